// Generated messages and service definitions (ts-proto, from proto/longshot/v1).

// Hand-written helpers.
export * from "./client.js";
export * from "./convert.js";
export { fileDescriptorSetBase64 } from "./gen/descriptor-set.js";
export { Duration } from "./gen/google/protobuf/duration.js";
export * from "./gen/longshot/v1/common.js";
export * from "./gen/longshot/v1/decoder_service.js";
export * from "./gen/longshot/v1/interpolation_service.js";
export * from "./gen/longshot/v1/job.js";
export * from "./gen/longshot/v1/job_event.js";
export * from "./gen/longshot/v1/keyframe_service.js";
export * from "./gen/longshot/v1/stage.js";
export * from "./gen/longshot/v1/video_service.js";
export * from "./grpc-errors.js";
export * from "./handlers.js";
export * from "./health.js";
export * from "./logger.js";
export * from "./reflection.js";
export * from "./request-check.js";
export * from "./server.js";
export * from "./tls.js";
export * from "./validate.js";
