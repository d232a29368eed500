/**
 * The interpolation service: the pack's interpolation UNet (loaded at start, nothing else), the blob
 * store, the JetStream worker on the `interpolation` queue, and the gRPC side — grpc.health.v1,
 * reflection and longshot.v1.InterpolationService (GetModelInfo; RunInterpolation runs the same
 * handler as the queue, without NATS: no events, no result message). Any number of interpolation
 * processes share the queue; each task is one window of one level, so replicas split a long video.
 * The rest is @longshot/stage's startStageService.
 */
import type { Logger } from "@longshot/core";
import { defineStageService, type StageService, startStageService } from "@longshot/stage";
import { type InterpolationConfig, interpolationConfigSchema } from "./config.js";
import { InterpolationStage } from "./stage.js";
import { checkInterpolationTask } from "./task.js";

/** What the interpolation service adds to a stage service: its config, graph, task check and stage. */
export const interpolationServiceSpec = defineStageService({
  stage: "interpolation",
  config: interpolationConfigSchema,
  graphs: ["interpolationUnet"],
  checkTask: checkInterpolationTask,
  createWorker: ({ config, pack, sessions, store, workerId }) =>
    new InterpolationStage({
      pack,
      unet: sessions.interpolationUnet,
      store,
      workerId,
      executionProvider: config.executionProvider,
    }),
});

/** The stage server (gRPC, queue worker, drain: see StageServer) and what this service built for it. */
export type InterpolationService = StageService<InterpolationStage>;

/** Starts the interpolation service (see startStageService) and reports SERVING. */
export function startInterpolationService(config: InterpolationConfig, logger: Logger): Promise<InterpolationService> {
  return startStageService(interpolationServiceSpec, config, logger);
}
