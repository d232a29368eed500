/**
 * The JSON shapes of the HTTP API, as JSON Schema (2020-12 compatible, which is what OpenAPI 3.1 uses):
 * the request schemas fastify validates with, the response schemas it serializes with, and the
 * components of the OpenAPI document, all from these declarations.
 *
 * The request schemas check what protobuf's wire types check on the gRPC side (JSON types, the ranges
 * of uint32 and uint64, enum names, unknown fields); what a value may be (steps, frames, guidance, the
 * prompt's length, the pack) is checked by the job service's validator, for gRPC and HTTP alike.
 */
import { JobState, Mode, OutputFormat, Sampler, Stage, StageState } from "@longshot/proto";

/** A proto enum's values (but UNSPECIFIED) by lower-case name without the prefix: SAMPLER_EULER_ANCESTRAL → "euler_ancestral". */
export class EnumNames<E extends number> {
  readonly names: readonly string[];
  readonly #byName = new Map<string, E>();
  readonly #byValue = new Map<number, string>();

  constructor(values: Record<string, string | number>, prefix: string) {
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== "number" || value <= 0 || !key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length).toLowerCase();
      this.#byName.set(name, value as E);
      this.#byValue.set(value, name);
    }
    this.names = [...this.#byName.keys()];
  }

  value(name: string): E | undefined {
    return this.#byName.get(name);
  }

  /** The name of a value; null for UNSPECIFIED and numbers the enum does not have. */
  name(value: number): string | null {
    return this.#byValue.get(value) ?? null;
  }
}

export const SAMPLERS = new EnumNames<Sampler>(Sampler, "SAMPLER_");
export const MODES = new EnumNames<Mode>(Mode, "MODE_");
export const OUTPUT_FORMATS = new EnumNames<OutputFormat>(OutputFormat, "OUTPUT_FORMAT_");
export const STAGES = new EnumNames<Stage>(Stage, "STAGE_");
export const STAGE_STATES = new EnumNames<StageState>(StageState, "STAGE_STATE_");

/** A job's state as the API names it (OpenAI's video statuses, and `cancelled`). */
export const STATUSES: ReadonlyMap<string, JobState> = new Map([
  ["queued", JobState.JOB_STATE_QUEUED],
  ["in_progress", JobState.JOB_STATE_RUNNING],
  ["completed", JobState.JOB_STATE_SUCCEEDED],
  ["failed", JobState.JOB_STATE_FAILED],
  ["cancelled", JobState.JOB_STATE_CANCELLED],
]);

/** The `type` of each job event, by the JobEvent oneof case. */
export const EVENT_TYPES = {
  queued: "queued",
  stageStarted: "stage_started",
  stepProgress: "step_progress",
  stageCompleted: "stage_completed",
  completed: "completed",
  failed: "failed",
  cancelled: "cancelled",
} as const;

const UINT32 = { type: "integer", minimum: 0, maximum: 4_294_967_295 } as const;
const UNIX_TIME = { type: "integer", description: "Unix time in seconds" } as const;
const UNIX_TIME_OR_NULL = { type: ["integer", "null"], description: "Unix time in seconds; null until it happened" };

/** The body of POST /v1/videos: GenerateRequest's fields under their proto names. */
export const createVideoBody = {
  type: "object",
  additionalProperties: false,
  required: ["prompt"],
  properties: {
    prompt: { type: "string", description: "What the video should show" },
    negative_prompt: { type: "string", description: "What it should not show" },
    seed: {
      description:
        "Noise seed in [0, 2^64): a number up to 2^53 − 1, or a decimal string; absent: the server picks one",
      anyOf: [
        { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
        { type: "string", pattern: "^[0-9]{1,20}$" },
      ],
    },
    frames: { ...UINT32, description: "Output frames: one of the pack's (e.g. 17, 65, 257); absent: its default" },
    keyframe_steps: { ...UINT32, description: "Denoising steps of the keyframe stage" },
    interpolation_steps: { ...UINT32, description: "Denoising steps of each interpolation level" },
    keyframe_guidance: { type: "number", description: "Classifier-free guidance scale of the keyframe stage" },
    interpolation_guidance: { type: "number", description: "Classifier-free guidance of the interpolation stage" },
    interpolation_strength: { type: "number", description: "Share of each interpolation pass's timesteps, (0, 1]" },
    sampler: { type: "string", enum: SAMPLERS.names },
    mode: { type: "string", enum: MODES.names },
    pack: { type: "string", description: "Model pack name; absent: the server's default pack" },
    idempotency_key: {
      type: "string",
      description: "A repeated request with the same key returns the first one's job (also the Idempotency-Key header)",
    },
    output_formats: {
      type: "array",
      items: { type: "string", enum: OUTPUT_FORMATS.names },
      description: "Files to produce; absent or empty: [mp4]",
    },
  },
} as const;

export interface CreateVideoBody {
  prompt: string;
  negative_prompt?: string;
  seed?: number | string;
  frames?: number;
  keyframe_steps?: number;
  interpolation_steps?: number;
  keyframe_guidance?: number;
  interpolation_guidance?: number;
  interpolation_strength?: number;
  sampler?: string;
  mode?: string;
  pack?: string;
  idempotency_key?: string;
  output_formats?: string[];
}

/** Optional: no body (or an empty one) is null. */
export const cancelVideoBody = {
  type: ["object", "null"],
  additionalProperties: false,
  properties: { reason: { type: "string", description: "Recorded in the job's cancelled event" } },
} as const;

export const jobIdParams = {
  type: "object",
  required: ["job_id"],
  properties: { job_id: { type: "string", description: "The job's id (j…)" } },
} as const;

export const listVideosQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    limit: { type: "integer", minimum: 0, maximum: 4_294_967_295, description: "Jobs per page (1..1000); absent: 50" },
    page_token: { type: "string", description: "next_page_token of the previous page" },
    status: {
      type: "array",
      items: { type: "string", enum: [...STATUSES.keys()] },
      description: "Only jobs in these statuses (repeat the parameter for several)",
    },
  },
} as const;

export const contentQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    variant: {
      type: "string",
      enum: ["video", "gif", "spritesheet"],
      default: "video",
      description: "video: the MP4; gif; spritesheet: the keyframes side by side as one PNG",
    },
  },
} as const;

/** Header names as written in documents and errors, by their lower-case form (the schemas' keys). */
export const HEADER_NAMES: Readonly<Record<string, string>> = {
  "idempotency-key": "Idempotency-Key",
  "last-event-id": "Last-Event-ID",
};

export const createVideoHeaders = {
  type: "object",
  properties: { "idempotency-key": { type: "string", description: "The same as the body's idempotency_key" } },
} as const;

export const eventsHeaders = {
  type: "object",
  properties: {
    "last-event-id": {
      type: "string",
      pattern: "^[0-9]{1,20}$",
      description: "The sequence of the last event seen: the stream resumes after it",
    },
  },
} as const;

const generateParams = {
  type: "object",
  description: "The request as it ran: the pack's defaults filled in and the seed fixed",
  properties: {
    prompt: { type: "string" },
    negative_prompt: { type: ["string", "null"] },
    seed: { type: "string", description: "Decimal (uint64)" },
    frames: { type: "integer" },
    keyframe_steps: { type: "integer" },
    interpolation_steps: { type: "integer" },
    keyframe_guidance: { type: "number" },
    interpolation_guidance: { type: "number" },
    interpolation_strength: { type: "number" },
    sampler: { type: ["string", "null"], enum: [...SAMPLERS.names, null] },
    mode: { type: ["string", "null"], enum: [...MODES.names, null] },
    pack: { type: "string" },
    idempotency_key: { type: "string" },
    output_formats: { type: "array", items: { type: "string", enum: OUTPUT_FORMATS.names } },
  },
} as const;

const artifact = {
  type: "object",
  required: ["format", "content_type", "bytes", "sha256", "url", "url_expires_at", "frame"],
  properties: {
    format: { type: "string", enum: OUTPUT_FORMATS.names },
    content_type: { type: "string" },
    bytes: { type: "integer" },
    sha256: { type: "string", description: "Lower-case hex" },
    url: { type: ["string", "null"], description: "Presigned GET URL straight from the store; null when none" },
    url_expires_at: UNIX_TIME_OR_NULL,
    frame: { type: ["integer", "null"], description: "png: the frame this image shows" },
  },
} as const;

const stageProgress = {
  type: "object",
  properties: {
    stage: { type: "string", enum: STAGES.names },
    level: { type: "integer", description: "Interpolation level (1, 2, …); 0 for the other stages" },
    state: { type: "string", enum: STAGE_STATES.names },
    completed_steps: { type: "integer" },
    total_steps: { type: "integer" },
    completed_tasks: { type: "integer" },
    total_tasks: { type: "integer" },
    started_at: UNIX_TIME_OR_NULL,
    completed_at: UNIX_TIME_OR_NULL,
  },
} as const;

/** The shared schemas: registered with fastify (referenced as "Name#") and the OpenAPI components. */
export const sharedSchemas = {
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message", "field"],
        properties: {
          code: { type: "string", description: "gRPC status name, e.g. INVALID_ARGUMENT, NOT_FOUND" },
          message: { type: "string" },
          field: {
            type: ["string", "null"],
            description: "INVALID_ARGUMENT: the field that is wrong, named as gRPC names it; null otherwise",
          },
        },
      },
    },
  },
  Artifact: artifact,
  StageProgress: stageProgress,
  GenerateParams: generateParams,
  Video: {
    type: "object",
    required: ["id", "object", "status", "progress", "created_at"],
    properties: {
      id: { type: "string" },
      object: { type: "string", enum: ["video"] },
      status: { type: "string", enum: [...STATUSES.keys()] },
      progress: { type: "integer", minimum: 0, maximum: 100, description: "Denoising and decoding steps done, %" },
      model: { type: "string", description: "The model pack" },
      created_at: UNIX_TIME,
      started_at: UNIX_TIME_OR_NULL,
      completed_at: { ...UNIX_TIME_OR_NULL, description: "When the job ended (completed, failed or cancelled)" },
      size: { type: ["string", "null"], description: "WIDTHxHEIGHT of the video; null for a pack not served here" },
      seconds: { type: ["string", "null"], description: "Length of the video in seconds (frames / fps)" },
      request: { $ref: "GenerateParams#" },
      stages: { type: "array", items: { $ref: "StageProgress#" } },
      artifacts: { type: "array", items: { $ref: "Artifact#" }, description: "Set once completed" },
      error: {
        type: ["object", "null"],
        description: "Set once failed or cancelled",
        properties: {
          code: { type: "string" },
          message: { type: "string" },
          stage: { type: ["string", "null"], enum: [...STAGES.names, null] },
        },
      },
      last_event_sequence: { type: "integer", description: "Sequence of the job's latest event" },
    },
  },
  VideoList: {
    type: "object",
    required: ["object", "data", "has_more", "next_page_token"],
    properties: {
      object: { type: "string", enum: ["list"] },
      data: { type: "array", items: { $ref: "Video#" } },
      first_id: { type: ["string", "null"] },
      last_id: { type: ["string", "null"] },
      has_more: { type: "boolean" },
      next_page_token: { type: "string", description: "page_token of the next page; empty on the last page" },
    },
  },
  JobEvent: {
    type: "object",
    description: "The data of one server-sent event; the event's `event` is `type` and its `id` is `sequence`",
    required: ["sequence", "job_id", "time", "type"],
    properties: {
      sequence: { type: "integer", description: "1, 2, 3, … without gaps (0: made from the job record)" },
      job_id: { type: "string" },
      time: { type: ["string", "null"], format: "date-time" },
      type: { type: "string", enum: Object.values(EVENT_TYPES) },
      jobs_ahead: { type: "integer", description: "queued" },
      stage: { type: ["string", "null"], enum: [...STAGES.names, null], description: "stage_*, step_progress, failed" },
      level: { type: "integer", description: "stage_*, step_progress" },
      total_tasks: { type: "integer", description: "stage_started" },
      step: { type: "integer", description: "step_progress" },
      total: { type: "integer", description: "step_progress" },
      window: {
        type: ["object", "null"],
        description: "step_progress of an interpolation window",
        properties: {
          start: { type: "integer" },
          end: { type: "integer" },
          index: { type: "integer" },
          count: { type: "integer" },
        },
      },
      task_id: { type: "string", description: "step_progress" },
      duration_ms: { type: ["number", "null"], description: "stage_completed" },
      artifacts: { type: "array", items: { $ref: "Artifact#" }, description: "completed" },
      code: { type: "string", description: "failed" },
      message: { type: "string", description: "failed, cancelled" },
    },
  },
} as const;

export type SharedSchemaName = keyof typeof sharedSchemas;

/** A reference to a shared schema, as fastify resolves it. */
export function ref(name: SharedSchemaName): { $ref: string } {
  return { $ref: `${name}#` };
}
