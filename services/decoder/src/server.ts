/**
 * The decoder service: the pack's VAE decoder (loaded at start, nothing else), ffmpeg, the blob store,
 * the JetStream worker on the `decode` queue, and the gRPC side — grpc.health.v1, reflection and
 * longshot.v1.DecoderService (GetModelInfo; RunDecode runs the same handler as the queue, without
 * NATS: no events, no result message). The rest is @longshot/stage's startStageService.
 */
import type { Logger } from "@longshot/core";
import { findFfmpeg } from "@longshot/media";
import { defineStageService, type StageService, startStageService } from "@longshot/stage";
import { type DecoderConfig, decoderConfigSchema } from "./config.js";
import { DecodeStage } from "./stage.js";
import { checkDecoderTask } from "./task.js";

/** What the decoder service adds to a stage service: its config, graph, task check and stage. */
export const decoderServiceSpec = defineStageService({
  stage: "decode",
  config: decoderConfigSchema,
  graphs: ["vaeDecoder"],
  checkTask: checkDecoderTask,
  async createWorker({ config, logger, pack, sessions, store, workerId }) {
    const ffmpeg = await findFfmpeg();
    logger.info({ ffmpeg: ffmpeg.path, version: ffmpeg.version }, "ffmpeg found");
    return new DecodeStage({
      pack,
      vae: sessions.vaeDecoder,
      store,
      workerId,
      ffmpeg,
      decodeBatch: config.decodeBatch,
      presignExpirySeconds: Math.round(config.presignExpiry / 1000),
      executionProvider: config.executionProvider,
    });
  },
});

/** The stage server (gRPC, queue worker, drain: see StageServer) and what this service built for it. */
export type DecoderService = StageService<DecodeStage>;

/** Starts the decoder service (see startStageService) and reports SERVING. */
export function startDecoderService(config: DecoderConfig, logger: Logger): Promise<DecoderService> {
  return startStageService(decoderServiceSpec, config, logger);
}
