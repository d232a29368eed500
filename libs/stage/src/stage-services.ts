/**
 * The one mapping from a stage's name to what its service is called and serves. The stage name
 * (`keyframe`, `interpolation`, `decode`) is the wire name: the JetStream queue, consumer and subject
 * token, and through `stageOf` (@longshot/bus) the proto `Stage`. The service name is the process
 * (`<name>-service`), its logger and telemetry `service.name`, and its "<name> service serving" line.
 */
import type { StageName } from "@longshot/bus";
import {
  type AnyMethodDefinition,
  DecoderServiceService,
  InterpolationServiceService,
  KeyframeServiceService,
  type ServiceDefinition,
} from "@longshot/proto";

interface StageServiceEntry {
  /** The service's name (see the module comment). */
  readonly name: string;
  /** The default of --grpc-port. */
  readonly grpcPort: number;
  /** The service's gRPC API: GetModelInfo and `run`, the Run… call whose request is `StageTask task = 1`. */
  readonly grpc: ServiceDefinition;
  readonly run: string;
}

export const STAGE_SERVICES = {
  keyframe: { name: "keyframe", grpcPort: 50052, grpc: KeyframeServiceService, run: "runKeyframe" },
  interpolation: { name: "interpolation", grpcPort: 50053, grpc: InterpolationServiceService, run: "runInterpolation" },
  decode: { name: "decoder", grpcPort: 50054, grpc: DecoderServiceService, run: "runDecode" },
} as const satisfies Record<StageName, StageServiceEntry>;

/** "keyframe", "interpolation" or "decoder". */
export type StageServiceName = (typeof STAGE_SERVICES)[StageName]["name"];

/** The stage a service runs, by the service's name. */
export function stageOfService(name: StageServiceName): StageName {
  const stages = Object.keys(STAGE_SERVICES) as StageName[];
  return stages.find((stage) => STAGE_SERVICES[stage].name === name) as StageName;
}

/** The stage service's gRPC methods: GetModelInfo and its Run… call. */
export function stageGrpcMethods(stage: StageName): { info: AnyMethodDefinition; run: AnyMethodDefinition } {
  const { grpc, run } = STAGE_SERVICES[stage];
  return { info: grpc.getModelInfo, run: (grpc as ServiceDefinition)[run] as AnyMethodDefinition };
}
