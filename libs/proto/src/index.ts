// Generated messages and service definitions (ts-proto, from proto/longshot/v1).

// Hand-written helpers.
export { type ClientHandle, createClient, encodedRequest, type PromiseClient, serverStream, unary } from "./client.js";
export {
  dataTypeOf,
  dtypeOf,
  durationFromMs,
  durationToMs,
  modeFromName,
  samplerFromName,
  samplerName,
} from "./convert.js";
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
export { fromGrpcError, GrpcCallError } from "./grpc-errors.js";
export {
  type AnyMethodDefinition,
  type AsyncServiceImplementation,
  type CallContext,
  defineService,
  type ServiceDefinition,
  type ServiceRegistration,
} from "./handlers.js";
export { checkHealth, watchHealth } from "./health.js";
export { silentLogger } from "./logger.js";
export { listServices } from "./reflection.js";
export { createGrpcServer, type DrainResult, GrpcServer } from "./server.js";
export {
  type ChannelCredentials,
  GrpcTlsError,
  grpcClientCredentials,
  grpcServerCredentials,
  grpcServerTlsMode,
  grpcTlsConfig,
  type ServerCredentials,
} from "./tls.js";
export { validateLatentRef, validateStageTask } from "./validate.js";
