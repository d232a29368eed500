export type { BlobStat, BlobStore } from "./blob-store.js";
export { FsBlobStore } from "./fs-blob-store.js";
export { DEFAULT_TENSOR_NAME, getTensor, type LatentRef, putTensor } from "./latents.js";
export {
  EXPIRY_RULE_PREFIX,
  S3BlobStore,
  type S3BlobStoreOptions,
  SHA256_METADATA,
  withExpiryRule,
} from "./s3-blob-store.js";
export { s3Config } from "./s3-config.js";
