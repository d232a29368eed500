/**
 * The HTTP API's JSON and the protobuf messages of the job service, both ways: a POST /v1/videos body
 * as the GenerateRequest the gRPC Generate takes, and a Job or JobEvent as the JSON of http-schemas.ts.
 * No check of a value's meaning happens here: that is the job service's, for both APIs.
 */
import { InvalidArgumentError } from "@longshot/core";
import {
  type Artifact,
  durationToMs,
  GenerateRequest,
  type Job,
  type JobEvent,
  JobState,
  Mode,
  OutputFormat,
  Sampler,
} from "@longshot/proto";
import {
  type CreateVideoBody,
  EVENT_TYPES,
  MODES,
  OUTPUT_FORMATS,
  SAMPLERS,
  STAGE_STATES,
  STAGES,
  STATUSES,
} from "./http-schemas.js";

/** What the video of a pack looks like (from its manifest). */
export interface PackVideo {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
}

const UINT64_LIMIT = 1n << 64n;

/**
 * The GenerateRequest of a POST /v1/videos body (already checked against its schema) and the
 * Idempotency-Key header. Throws InvalidArgumentError for what the schema cannot say: a seed string
 * beyond uint64, a header key that differs from the body's.
 */
export function generateRequestOf(body: CreateVideoBody, idempotencyHeader: string | undefined): GenerateRequest {
  let seed: bigint | undefined;
  if (body.seed !== undefined) {
    seed = BigInt(body.seed);
    if (seed >= UINT64_LIMIT) throw new InvalidArgumentError("seed", `must be an integer in [0, 2^64), got ${seed}`);
  }
  const bodyKey = body.idempotency_key;
  if (idempotencyHeader !== undefined && bodyKey !== undefined && idempotencyHeader !== bodyKey) {
    throw new InvalidArgumentError("idempotency_key", "differs from the Idempotency-Key header; send one of them");
  }
  return GenerateRequest.create({
    prompt: body.prompt,
    negativePrompt: body.negative_prompt,
    seed,
    frames: body.frames,
    keyframeSteps: body.keyframe_steps,
    interpolationSteps: body.interpolation_steps,
    keyframeGuidance: body.keyframe_guidance,
    interpolationGuidance: body.interpolation_guidance,
    interpolationStrength: body.interpolation_strength,
    // The schema allows only known names.
    sampler: body.sampler === undefined ? Sampler.SAMPLER_UNSPECIFIED : SAMPLERS.value(body.sampler),
    mode: body.mode === undefined ? Mode.MODE_UNSPECIFIED : MODES.value(body.mode),
    pack: body.pack ?? "",
    idempotencyKey: idempotencyHeader ?? bodyKey ?? "",
    outputFormats: (body.output_formats ?? []).map((f) => OUTPUT_FORMATS.value(f) ?? OutputFormat.UNRECOGNIZED),
  });
}

function unixSeconds(date: Date | undefined): number | null {
  return date === undefined ? null : Math.floor(date.getTime() / 1000);
}

function unixSecondsOr0(date: Date | undefined): number {
  return unixSeconds(date) ?? 0;
}

function statusOf(state: JobState): string {
  for (const [name, value] of STATUSES) if (value === state) return name;
  return "queued";
}

/** The API's status names of a list of statuses (the schema allows only known names). */
export function jobStatesOf(statuses: readonly string[] | undefined): JobState[] {
  return (statuses ?? []).map((s) => STATUSES.get(s) ?? JobState.UNRECOGNIZED);
}

function artifactOf(a: Artifact) {
  return {
    format: OUTPUT_FORMATS.name(a.format),
    content_type: a.contentType,
    bytes: Number(a.bytes),
    sha256: a.sha256,
    url: a.presignedUrl === "" ? null : a.presignedUrl,
    url_expires_at: unixSeconds(a.presignedUrlExpireTime),
    frame: a.format === OutputFormat.OUTPUT_FORMAT_PNG ? a.frame : null,
  };
}

/** Steps done over steps planned, summed over the stages, in whole percent (100 once completed). */
function progressOf(job: Job): number {
  if (job.state === JobState.JOB_STATE_SUCCEEDED) return 100;
  let done = 0;
  let total = 0;
  for (const s of job.stages) {
    done += Math.min(s.completedSteps, s.totalSteps);
    total += s.totalSteps;
  }
  return total === 0 ? 0 : Math.min(99, Math.floor((100 * done) / total));
}

/** The Video object of a job; `packs` gives the size and fps of the packs this server serves. */
export function videoOf(job: Job, packs: ReadonlyMap<string, PackVideo>) {
  const r = job.request ?? GenerateRequest.create();
  const pack = packs.get(r.pack);
  const frames = r.frames ?? 0;
  return {
    id: job.id,
    object: "video",
    status: statusOf(job.state),
    progress: progressOf(job),
    model: r.pack,
    created_at: unixSecondsOr0(job.createTime),
    started_at: unixSeconds(job.startTime),
    completed_at: unixSeconds(job.endTime),
    size: pack === undefined ? null : `${pack.width}x${pack.height}`,
    seconds: pack === undefined || frames === 0 ? null : String(Number((frames / pack.fps).toFixed(3))),
    request: {
      prompt: r.prompt,
      negative_prompt: r.negativePrompt ?? null,
      seed: String(r.seed ?? 0n),
      frames,
      keyframe_steps: r.keyframeSteps ?? 0,
      interpolation_steps: r.interpolationSteps ?? 0,
      keyframe_guidance: r.keyframeGuidance ?? 0,
      interpolation_guidance: r.interpolationGuidance ?? 0,
      interpolation_strength: r.interpolationStrength ?? 1,
      sampler: SAMPLERS.name(r.sampler),
      mode: MODES.name(r.mode),
      pack: r.pack,
      idempotency_key: r.idempotencyKey,
      output_formats: r.outputFormats.map((f) => OUTPUT_FORMATS.name(f)),
    },
    stages: job.stages.map((s) => ({
      stage: STAGES.name(s.stage),
      level: s.level,
      state: STAGE_STATES.name(s.state),
      completed_steps: s.completedSteps,
      total_steps: s.totalSteps,
      completed_tasks: s.completedTasks,
      total_tasks: s.totalTasks,
      started_at: unixSeconds(s.startTime),
      completed_at: unixSeconds(s.endTime),
    })),
    artifacts: job.artifacts.map(artifactOf),
    error:
      job.error === undefined
        ? null
        : { code: job.error.code, message: job.error.reason, stage: STAGES.name(job.error.stage) },
    last_event_sequence: Number(job.lastSequence),
  };
}

/**
 * The data of a job event's server-sent event (its `type` is the SSE event name, its `sequence` the id);
 * undefined for an event of a kind this server does not know.
 */
export function eventOf(e: JobEvent): (Record<string, unknown> & { type: string; sequence: number }) | undefined {
  const base = { sequence: Number(e.sequence), job_id: e.jobId, time: e.time?.toISOString() ?? null };
  const ev = e.event;
  switch (ev?.$case) {
    case "queued":
      return { ...base, type: EVENT_TYPES.queued, jobs_ahead: ev.value.jobsAhead };
    case "stageStarted":
      return {
        ...base,
        type: EVENT_TYPES.stageStarted,
        stage: STAGES.name(ev.value.stage),
        level: ev.value.level,
        total_tasks: ev.value.totalTasks,
      };
    case "stepProgress":
      return {
        ...base,
        type: EVENT_TYPES.stepProgress,
        stage: STAGES.name(ev.value.stage),
        level: ev.value.level,
        step: ev.value.step,
        total: ev.value.total,
        window: ev.value.window ?? null,
        task_id: ev.value.taskId,
      };
    case "stageCompleted":
      return {
        ...base,
        type: EVENT_TYPES.stageCompleted,
        stage: STAGES.name(ev.value.stage),
        level: ev.value.level,
        duration_ms: ev.value.duration === undefined ? null : durationToMs(ev.value.duration),
      };
    case "completed":
      return { ...base, type: EVENT_TYPES.completed, artifacts: ev.value.artifacts.map(artifactOf) };
    case "failed":
      return {
        ...base,
        type: EVENT_TYPES.failed,
        code: ev.value.code,
        message: ev.value.reason,
        stage: STAGES.name(ev.value.stage),
      };
    case "cancelled":
      return { ...base, type: EVENT_TYPES.cancelled, message: ev.value.reason };
    default:
      // An event of a kind this server does not know (from a newer worker) is not part of this API.
      return undefined;
  }
}
