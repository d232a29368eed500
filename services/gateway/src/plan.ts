/**
 * What a job runs, decided once at Generate time from its resolved request and pack, and the stage
 * tasks built from it. Everything here is pure and deterministic: the same job gives the same task
 * ids, object keys and windows on every gateway replica, so a task published twice (a retry, a
 * second replica, a restart) is the same message (`Nats-Msg-Id` = task id) writing the same object.
 *
 * Object keys (bucket-relative):
 *
 * | what                                   | key                                          | written by     |
 * |----------------------------------------|----------------------------------------------|----------------|
 * | keyframe latents [1, C, K, h, w]       | `jobs/<jobId>/keyframes.safetensors`         | keyframe       |
 * | text embeddings [2, T, H]              | `jobs/<jobId>/text.safetensors`              | keyframe       |
 * | one interpolation window               | `jobs/<jobId>/interp<L>/<start>-<end>.safetensors` | interpolation |
 * | a stitched level [1, C, F_L, h, w]     | `jobs/<jobId>/interp<L>.safetensors`         | gateway        |
 * | the video                              | `jobs/<jobId>/video.mp4`, `video.gif`        | decoder        |
 *
 * Task ids: `<jobId>:keyframe`, `<jobId>:interp<L>:<start>-<end>`, `<jobId>:decode`. A task the
 * gateway runs again (its output, or an input it read, was found corrupted) gets `.r<attempt>`
 * appended (`<jobId>:keyframe.r2`): the same output key, but a new `Nats-Msg-Id` for the task and
 * for its result (`result:<task id>`), so JetStream's de-duplication does not swallow the re-run.
 */
import { randomBytes } from "node:crypto";
import { InvalidArgumentError } from "@longshot/core";
import { checkWindowSizes, levelFrames, planWindows } from "@longshot/engine/light";
import type { PackManifest } from "@longshot/pack";
import { type GenerateRequest, type LatentRef, type OutputFormat, Stage, type StageTask } from "@longshot/proto";

/** A frame window [start, end) of one interpolation level's output frames. */
export interface PlanWindow {
  start: number;
  end: number;
}

/** One interpolation level of a job. */
export interface PlanLevel {
  /** 1 = keyframes → first level. */
  level: number;
  inputFrames: number;
  outputFrames: number;
  /** Frame-stride conditioning of this level (pack interpolation.strides). */
  frameStride: number;
  /** The window tasks, sorted; one window [0, outputFrames) when the level is not longer than a window. */
  windows: PlanWindow[];
}

export interface JobPlan {
  /** Frame counts: keyframes first, then every level (e.g. [5, 17, 65]). */
  levels: number[];
  interpolation: PlanLevel[];
  window: { frames: number; overlap: number };
  factor: number;
}

/** Window length and overlap, as the gateway is configured. */
export interface WindowConfig {
  frames: number;
  overlap: number;
}

/**
 * The plan of a job: its levels and, for each level, the windows (engine `planWindows` with the
 * configured window and overlap, exactly as the embedded engine splits a level with the same
 * `--window`/`--overlap`: a level no longer than a window is one task).
 */
export function planJob(manifest: PackManifest, frames: number, window: WindowConfig): JobPlan {
  const factor = manifest.video.interpolationFactor;
  checkWindowSizes(window.frames, window.overlap, factor, "window");
  const levels = levelFrames(manifest.video.keyframes, factor, frames);
  const interpolation: PlanLevel[] = [];
  for (let level = 1; level < levels.length; level++) {
    const outputFrames = levels[level] as number;
    const frameStride = manifest.interpolation.strides[String(outputFrames)];
    if (frameStride === undefined) {
      throw new InvalidArgumentError(
        "frames",
        `pack ${manifest.name}@${manifest.version} has no interpolation stride for ${outputFrames} frames`,
      );
    }
    const windows =
      outputFrames > window.frames
        ? planWindows(outputFrames, window.frames, window.overlap, factor)
        : [{ start: 0, end: outputFrames }];
    interpolation.push({
      level,
      inputFrames: levels[level - 1] as number,
      outputFrames,
      frameStride,
      windows: windows.map((w) => ({ start: w.start, end: w.end })),
    });
  }
  return { levels, interpolation, window: { ...window }, factor };
}

// --- ids and keys ----------------------------------------------------------------------------------

/**
 * A new job id: `j` + base-36 milliseconds (so ids sort roughly by creation) + 12 random hex digits.
 * Valid as a subject token, KV key and task-id prefix.
 */
export function newJobId(now = Date.now()): string {
  return `j${now.toString(36)}${randomBytes(6).toString("hex")}`;
}

export const KEYFRAME_TASK_SUFFIX = "keyframe";
export const DECODE_TASK_SUFFIX = "decode";

export function jobPrefix(jobId: string): string {
  return `jobs/${jobId}/`;
}

export function keyframeTaskId(jobId: string): string {
  return `${jobId}:${KEYFRAME_TASK_SUFFIX}`;
}

export function windowTaskId(jobId: string, level: number, w: PlanWindow): string {
  return `${jobId}:interp${level}:${w.start}-${w.end}`;
}

export function decodeTaskId(jobId: string): string {
  return `${jobId}:${DECODE_TASK_SUFFIX}`;
}

export function keyframesKey(jobId: string): string {
  return `jobs/${jobId}/keyframes.safetensors`;
}

export function textKey(jobId: string): string {
  return `jobs/${jobId}/text.safetensors`;
}

export function windowKey(jobId: string, level: number, w: PlanWindow): string {
  return `jobs/${jobId}/interp${level}/${w.start}-${w.end}.safetensors`;
}

export function levelKey(jobId: string, level: number): string {
  return `jobs/${jobId}/interp${level}.safetensors`;
}

export function videoKey(jobId: string): string {
  return `jobs/${jobId}/video.mp4`;
}

/** What a task id names, or undefined for an id that is not one of this job's tasks. */
export type ParsedTaskId = (
  | { stage: "keyframe" }
  | { stage: "interpolation"; level: number; window: PlanWindow }
  | { stage: "decode" }
) & {
  /** The id without the attempt suffix. */
  baseId: string;
  /** 1, or the N of a `.rN` suffix. */
  attempt: number;
};

/** The task id of an attempt: the base id for attempt 1, `<base>.r<attempt>` after. */
export function attemptTaskId(baseId: string, attempt: number): string {
  return attempt <= 1 ? baseId : `${baseId}.r${attempt}`;
}

export function parseTaskId(jobId: string, taskId: string): ParsedTaskId | undefined {
  const prefix = `${jobId}:`;
  if (!taskId.startsWith(prefix)) return undefined;
  let rest = taskId.slice(prefix.length);
  let attempt = 1;
  const r = /\.r([2-9]|[1-9][0-9]{1,3})$/.exec(rest);
  if (r !== null) {
    attempt = Number(r[1]);
    rest = rest.slice(0, r.index);
  }
  const baseId = `${prefix}${rest}`;
  if (rest === KEYFRAME_TASK_SUFFIX) return { stage: "keyframe", baseId, attempt };
  if (rest === DECODE_TASK_SUFFIX) return { stage: "decode", baseId, attempt };
  const m = /^interp([1-9][0-9]?):(\d{1,5})-(\d{1,5})$/.exec(rest);
  if (m === null) return undefined;
  return {
    stage: "interpolation",
    level: Number(m[1]),
    window: { start: Number(m[2]), end: Number(m[3]) },
    baseId,
    attempt,
  };
}

/** Every intermediate object of a plan (everything but the video files): removed when the job ends. */
export function intermediateKeys(jobId: string, plan: JobPlan): string[] {
  const keys = [keyframesKey(jobId), textKey(jobId)];
  for (const lvl of plan.interpolation) {
    for (const w of lvl.windows) keys.push(windowKey(jobId, lvl.level, w));
    keys.push(levelKey(jobId, lvl.level));
  }
  return keys;
}

/** Output-frame indices in `[start, end)` that hold the previous level's frames (multiples of the factor). */
export function anchorFrames(w: PlanWindow, factor: number): number[] {
  const out: number[] = [];
  for (let f = Math.ceil(w.start / factor) * factor; f < w.end; f += factor) out.push(f);
  return out;
}

// --- tasks -----------------------------------------------------------------------------------------

export interface JobTaskFields {
  jobId: string;
  /** The resolved request (defaults filled in, seed fixed). */
  request: GenerateRequest;
  packName: string;
  packVersion: string;
  traceContext: Record<string, string>;
  keyframes: number;
}

function base(ctx: JobTaskFields, taskId: string, outputKey: string, stage: Stage): StageTask {
  return {
    jobId: ctx.jobId,
    taskId,
    outputKey,
    stage,
    traceContext: { ...ctx.traceContext },
    packName: ctx.packName,
    packVersion: ctx.packVersion,
    seed: ctx.request.seed ?? 0n,
    sampler: undefined,
    params: undefined,
  };
}

export function keyframeTask(ctx: JobTaskFields): StageTask {
  const r = ctx.request;
  return {
    ...base(ctx, keyframeTaskId(ctx.jobId), keyframesKey(ctx.jobId), Stage.STAGE_KEYFRAME),
    sampler: { sampler: r.sampler, steps: r.keyframeSteps ?? 0, guidance: r.keyframeGuidance ?? 0 },
    params: {
      $case: "keyframe",
      value: {
        prompt: r.prompt,
        ...(r.negativePrompt === undefined ? {} : { negativePrompt: r.negativePrompt }),
        numFrames: ctx.keyframes,
      },
    },
  };
}

export function windowTask(
  ctx: JobTaskFields,
  plan: JobPlan,
  level: PlanLevel,
  w: PlanWindow,
  input: LatentRef,
  text: LatentRef,
): StageTask {
  const r = ctx.request;
  return {
    ...base(
      ctx,
      windowTaskId(ctx.jobId, level.level, w),
      windowKey(ctx.jobId, level.level, w),
      Stage.STAGE_INTERPOLATION,
    ),
    sampler: { sampler: r.sampler, steps: r.interpolationSteps ?? 0, guidance: r.interpolationGuidance ?? 0 },
    params: {
      $case: "interpolation",
      value: {
        inputLatents: input,
        textEmbeddings: text,
        level: level.level,
        outputFrames: level.outputFrames,
        windowStart: w.start,
        windowEnd: w.end,
        anchorFrames: anchorFrames(w, plan.factor),
        frameStride: level.frameStride,
        mode: r.mode,
        strength: r.interpolationStrength,
        // Progress only: the worker's step_progress events say "window i of n".
        windowIndex: Math.max(
          0,
          level.windows.findIndex((x) => x.start === w.start && x.end === w.end),
        ),
        windowCount: level.windows.length,
      },
    },
  };
}

export function decodeStageTask(
  ctx: JobTaskFields,
  latents: LatentRef,
  frames: number,
  formats: OutputFormat[],
): StageTask {
  return {
    ...base(ctx, decodeTaskId(ctx.jobId), videoKey(ctx.jobId), Stage.STAGE_DECODE),
    params: {
      $case: "decode",
      value: { latents, frameStart: 0, frameEnd: frames, outputFormats: [...formats] },
    },
  };
}
