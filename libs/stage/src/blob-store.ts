/** The blob store a stage service's configuration names: a directory or an S3 bucket. */
import { type BlobStore, FsBlobStore, S3BlobStore } from "@longshot/blob";
import { InvalidArgumentError, type Logger } from "@longshot/core";
import type { StageKitConfig } from "./config.js";

/** The settings `openBlobStore` reads (a subset of StageKitConfig). */
export type BlobConfig = Pick<
  StageKitConfig,
  "blobDir" | "s3Endpoint" | "s3Bucket" | "s3Region" | "s3AccessKey" | "s3SecretKey"
>;

/**
 * The blob store the configuration names: a directory (`blobDir`) or an S3 bucket, created when
 * missing. Without `blobDir`, missing S3 credentials are an InvalidArgumentError naming the first
 * missing setting and listing every missing one with its environment variable and flag.
 */
export async function openBlobStore(config: BlobConfig, logger: Logger): Promise<BlobStore> {
  if (config.blobDir !== undefined) {
    logger.info({ dir: config.blobDir }, "blob store: directory");
    return new FsBlobStore(config.blobDir);
  }
  const missing = [
    config.s3AccessKey === undefined ? "s3AccessKey (LONGSHOT_S3_ACCESS_KEY, --s3-access-key)" : "",
    config.s3SecretKey === undefined ? "s3SecretKey (LONGSHOT_S3_SECRET_KEY, --s3-secret-key)" : "",
  ].filter((m) => m !== "");
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      missing[0]?.split(" ")[0] ?? "s3AccessKey",
      `is required for the S3 blob store (missing: ${missing.join(", ")}); or set LONGSHOT_BLOB_DIR`,
    );
  }
  const url = new URL(config.s3Endpoint);
  const useSSL = url.protocol === "https:";
  const store = new S3BlobStore({
    endPoint: url.hostname,
    port: url.port === "" ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: config.s3AccessKey as string,
    secretKey: config.s3SecretKey as string,
    bucket: config.s3Bucket,
    region: config.s3Region,
  });
  await store.ensureBucket();
  logger.info({ endpoint: config.s3Endpoint, bucket: config.s3Bucket }, "blob store: S3");
  return store;
}
