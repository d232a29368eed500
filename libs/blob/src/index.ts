export * from "./blob-store.js";
export { FsBlobStore } from "./fs-blob-store.js";
export * from "./latents.js";
export {
  EXPIRY_RULE_PREFIX,
  S3BlobStore,
  type S3BlobStoreOptions,
  SHA256_METADATA,
  withExpiryRule,
} from "./s3-blob-store.js";
export * from "./s3-config.js";
