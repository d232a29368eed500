import { type ConfigValues, defineConfig } from "@longshot/core";

/**
 * Config fields for the S3 (MinIO) connection, shared by every service that stores blobs; spread them into a
 * service schema: `defineConfig({ ...s3Config, … })`. The keys are optional here (a stage may use a blob
 * directory instead); a service that always needs S3 overrides them with `required: true`.
 */
export const s3Config = defineConfig({
  s3Endpoint: {
    type: "url",
    env: "LONGSHOT_S3_ENDPOINT",
    flag: "s3-endpoint",
    default: "http://127.0.0.1:9000",
    protocols: ["http", "https"],
    description: "S3 API endpoint (MinIO) holding latents and videos, e.g. http://minio:9000",
  },
  s3Bucket: {
    type: "string",
    env: "LONGSHOT_S3_BUCKET",
    flag: "s3-bucket",
    default: "longshot",
    description: "Bucket holding latents and videos (created when missing)",
  },
  s3Region: {
    type: "string",
    env: "LONGSHOT_S3_REGION",
    flag: "s3-region",
    default: "us-east-1",
    description: "S3 region",
  },
  s3AccessKey: {
    type: "string",
    env: "LONGSHOT_S3_ACCESS_KEY",
    flag: "s3-access-key",
    description: "S3 access key id (one key per service, scoped to the bucket, in production)",
  },
  s3SecretKey: {
    type: "string",
    env: "LONGSHOT_S3_SECRET_KEY",
    flag: "s3-secret-key",
    secret: true,
    description: "S3 secret key",
  },
});

export type S3ConfigValues = ConfigValues<typeof s3Config>;
