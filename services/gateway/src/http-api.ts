/**
 * The gateway's side of the HTTP JSON API (@longshot/http-api): the job's files in the S3 store (streamed through
 * the gateway), its keyframes as a PNG from the keyframe latents in S3, and TLS from the gRPC settings.
 */
import { readFileSync } from "node:fs";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import type { S3BlobStore } from "@longshot/blob";
import { NotFoundError, UnavailableError } from "@longshot/core";
import { keyframesSpritesheet, type VideoFiles } from "@longshot/http-api";
import type { PackManifest } from "@longshot/pack";
import { grpcServerTlsMode, type Job } from "@longshot/proto";
import { decodeSafetensors } from "@longshot/tensor";
import { keyframesKey } from "./plan.js";

export { type HttpApi, startHttpApi } from "@longshot/http-api";

/**
 * The video files of the gateway's S3 store: stat through the store (its errors), then a GET streamed as it
 * arrives; the keyframes' PNG from `jobs/<id>/keyframes.safetensors` (kept when a job succeeds, for this) and the
 * pack's preview matrix (`manifests`, by pack name).
 */
export function s3VideoFiles(store: S3BlobStore, manifests: ReadonlyMap<string, PackManifest>): VideoFiles {
  const getObject = async (key: string) => {
    try {
      return await store.client.getObject(store.bucket, key);
    } catch (err) {
      throw new UnavailableError(
        `s3 bucket "${store.bucket}" key "${key}": getObject failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
  return {
    keyOf: (uri) => store.keyOf(uri),
    stat: (key) => store.stat(key),
    open: getObject,
    async keyframesPng(job: Job) {
      const pack = job.request?.pack ?? "";
      const manifest = manifests.get(pack);
      if (manifest === undefined)
        throw new NotFoundError(`job ${job.id} ran on pack ${pack}, which this gateway does not serve`);
      const key = keyframesKey(job.id);
      try {
        await store.stat(key);
      } catch (err) {
        if (err instanceof NotFoundError) {
          throw new NotFoundError(
            `job ${job.id} has no keyframes (yet): they exist once its keyframe stage has completed, and are removed when a job fails or is cancelled`,
          );
        }
        throw err;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of await getObject(key)) chunks.push(chunk as Buffer);
      const { tensors } = decodeSafetensors(Buffer.concat(chunks));
      const latents = Object.values(tensors)[0];
      if (latents === undefined) throw new NotFoundError(`job ${job.id}: ${key} holds no tensor`);
      return keyframesSpritesheet(job.id, latents, manifest);
    },
  };
}

/** The https options of the gRPC TLS settings (LONGSHOT_GRPC_TLS_*): the HTTP API serves what gRPC serves. */
export function httpsOptionsOf(config: Parameters<typeof grpcServerTlsMode>[0]): HttpsServerOptions | undefined {
  const mode = grpcServerTlsMode(config);
  if (mode === "plaintext") return undefined;
  // grpcServerCredentials has read and checked the files (the gateway builds its gRPC credentials first).
  const options: HttpsServerOptions = {
    cert: readFileSync(config.grpcTlsCert as string),
    key: readFileSync(config.grpcTlsKey as string),
  };
  if (mode === "mutual-tls") {
    options.ca = readFileSync(config.grpcTlsCa as string);
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  return options;
}
