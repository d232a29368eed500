export { type BlobConfig, openBlobStore } from "./blob-store.js";
export {
  BUNDLED_PACK_DIR,
  type StageKitConfig,
  type StageServiceConfig,
  stageKitConfig,
  stageServiceConfig,
} from "./config.js";
export {
  blobLatentRef,
  FINGERPRINT_METADATA,
  findReusableLatent,
  protoLatentRef,
  putLatent,
  readLatent,
  statOrUndefined,
  taskFingerprint,
} from "./latents.js";
export { PackMismatchError, type StageQueue, type StageRunContext, startStageQueue } from "./stage-queue.js";
export { type StageServer, type StageServerOptions, startStageServer } from "./stage-server.js";
export {
  defineStageService,
  runStageService,
  type StageService,
  type StageServiceSpec,
  type StageWorker,
  type StageWorkerContext,
  stageModelInfo,
  startStageService,
} from "./stage-service.js";
export { STAGE_SERVICES, type StageServiceName, stageGrpcMethods, stageOfService } from "./stage-services.js";
export { TaskClock } from "./task-clock.js";
