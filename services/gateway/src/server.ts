/**
 * The gateway's gRPC side: grpc.health.v1, reflection and the public longshot.v1.VideoService.
 * What can be real without the pipeline is: Generate validates requests against the packs, and
 * every method checks its arguments. Creating, watching, listing and cancelling jobs needs the job
 * store and stage queues of the distributed-pipeline issue (#5); until then those answer UNIMPLEMENTED.
 */
import { InvalidArgumentError, type Logger, LongshotError } from "@longshot/core";
import {
  type CancelJobRequest,
  createGrpcServer,
  type DrainResult,
  defineService,
  type GenerateRequest,
  type GetJobRequest,
  type GrpcServer,
  JobState,
  type ListJobsRequest,
  VideoServiceService,
  type WatchJobRequest,
} from "@longshot/proto";
import { loadPack, type Pack } from "@longshot/runtime";
import { type GatewayConfig, packDirs } from "./config.js";
import { type GenerateLimits, PackCatalog, validateGenerateRequest } from "./validate.js";

/** Why the job methods answer UNIMPLEMENTED for now. */
export function notYetWired(method: string): LongshotError {
  return new LongshotError(
    `${method} is not available yet: jobs need the JetStream job store and stage queues that the ` +
      "distributed-pipeline issue (#5) adds to the gateway",
    { code: "UNIMPLEMENTED" },
  );
}

const MAX_JOB_ID_LENGTH = 256;
const MAX_PAGE_SIZE = 1000;

function checkJobId(jobId: string): void {
  if (jobId === "") throw new InvalidArgumentError("job_id", "is required");
  if (jobId.length > MAX_JOB_ID_LENGTH)
    throw new InvalidArgumentError("job_id", `is longer than ${MAX_JOB_ID_LENGTH} characters`);
  if (!/^[\x21-\x7e]+$/.test(jobId))
    throw new InvalidArgumentError("job_id", "may only contain printable ASCII characters");
}

function checkListJobs(request: ListJobsRequest): void {
  if (request.pageSize > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError("page_size", `must be at most ${MAX_PAGE_SIZE}, got ${request.pageSize}`);
  }
  request.states.forEach((state, i) => {
    if (state <= JobState.JOB_STATE_UNSPECIFIED || typeof JobState[state] !== "string") {
      throw new InvalidArgumentError(`states[${i}]`, `is not a job state: ${state}`);
    }
  });
}

export interface GatewayService {
  readonly port: number;
  readonly packs: readonly Pack[];
  readonly catalog: PackCatalog;
  readonly server: GrpcServer;
  /** Health NOT_SERVING, let running calls finish (cancelled after timeoutMs). */
  drain(timeoutMs: number): Promise<DrainResult>;
}

/** Loads and verifies every configured pack, serves gRPC on grpcHost:grpcPort and reports SERVING. */
export async function startGatewayService(config: GatewayConfig, logger: Logger): Promise<GatewayService> {
  const dirs = packDirs(config.packDir);
  if (dirs.length === 0) throw new InvalidArgumentError("packDir", "names no pack directory");
  const packs: Pack[] = [];
  for (const dir of dirs) {
    const pack = await loadPack(dir);
    logger.info({ pack: pack.id, dir: pack.dir, frames: pack.allowedFrames }, "model pack verified");
    packs.push(pack);
  }
  const limits: GenerateLimits = {
    maxPromptChars: config.maxPromptChars,
    maxSteps: config.maxSteps,
    maxGuidance: config.maxGuidance,
    maxRequestBytes: config.maxRequestBytes,
  };
  const catalog = new PackCatalog(
    packs.map((p) => p.manifest),
    limits,
  );

  const video = defineService(VideoServiceService, {
    async generate(request: GenerateRequest) {
      const { request: resolved } = validateGenerateRequest(request, catalog, limits);
      logger.debug({ pack: resolved.pack, frames: resolved.frames }, "valid Generate request");
      throw notYetWired("Generate");
    },
    watchJob(request: WatchJobRequest) {
      checkJobId(request.jobId);
      throw notYetWired("WatchJob");
    },
    async getJob(request: GetJobRequest) {
      checkJobId(request.jobId);
      throw notYetWired("GetJob");
    },
    async cancelJob(request: CancelJobRequest) {
      checkJobId(request.jobId);
      throw notYetWired("CancelJob");
    },
    async listJobs(request: ListJobsRequest) {
      checkListJobs(request);
      throw notYetWired("ListJobs");
    },
  });
  const server = createGrpcServer({ services: [video], logger });
  const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`);
  server.setServing(true);
  logger.info({ port, packs: catalog.names, defaultPack: catalog.defaultPack }, "gateway serving");

  let draining: Promise<DrainResult> | undefined;
  return {
    port,
    packs,
    catalog,
    server,
    drain(timeoutMs: number) {
      // With the pipeline (#5), in-flight Generate calls finish their job creation here; jobs
      // themselves live in JetStream and are not affected by a gateway stopping.
      draining ??= server.drain(timeoutMs);
      return draining;
    },
  };
}
