/**
 * The keyframe service: the pack's text encoder and keyframe UNet (loaded at start, nothing else),
 * the blob store, the JetStream worker on the `keyframe` queue, and the gRPC side — grpc.health.v1,
 * reflection and longshot.v1.KeyframeService (GetModelInfo; RunKeyframe runs the same handler as the
 * queue, without NATS: no events, no result message). The rest is @longshot/stage's startStageService.
 */
import type { Logger } from "@longshot/core";
import { PromptTokenizer } from "@longshot/engine";
import { defineStageService, type StageService, startStageService } from "@longshot/stage";
import { type KeyframeConfig, keyframeConfigSchema } from "./config.js";
import { KeyframeStage } from "./stage.js";
import { checkKeyframeTask } from "./task.js";

/** What the keyframe service adds to a stage service: its config, graphs, task check and stage. */
export const keyframeServiceSpec = defineStageService({
  stage: "keyframe",
  config: keyframeConfigSchema,
  graphs: ["textEncoder", "keyframeUnet"],
  checkTask: checkKeyframeTask,
  async createWorker({ config, pack, sessions, store, workerId }) {
    const tokenizer = await PromptTokenizer.fromPack(pack);
    return new KeyframeStage({
      pack,
      textEncoder: sessions.textEncoder,
      unet: sessions.keyframeUnet,
      tokenizer,
      store,
      workerId,
      executionProvider: config.executionProvider,
    });
  },
});

/** The stage server (gRPC, queue worker, drain: see StageServer) and what this service built for it. */
export type KeyframeService = StageService<KeyframeStage>;

/** Starts the keyframe service (see startStageService) and reports SERVING. */
export function startKeyframeService(config: KeyframeConfig, logger: Logger): Promise<KeyframeService> {
  return startStageService(keyframeServiceSpec, config, logger);
}
