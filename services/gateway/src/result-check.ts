/**
 * What the coordinator checks in a stage result before it records it: the result answers its task
 * (latent shapes of the job's pack, dtype, the keys the plan gave, the window it covers; a decode's
 * files inside the job's prefix, hashed, not empty, every format the request asked for). A result that
 * does not is an InvalidResultError, which fails the job.
 */
import type { S3BlobStore } from "@longshot/blob";
import { LongshotError } from "@longshot/core";
import { DataType, type Job, type LatentRef, OutputFormat, type StageResult, validateLatentRef } from "@longshot/proto";
import { jobPrefix, keyframesKey, textKey, windowKey } from "./plan.js";
import {
  type RunRecord,
  resultRecord,
  type StoredRef,
  storedRef,
  type TaskRecord,
  type TaskResultRecord,
} from "./run-record.js";

/** Tensor sizes of a pack that results are checked against. */
export interface PackShape {
  latentChannels: number;
  latentHeight: number;
  latentWidth: number;
  textTokens: number;
  textHidden: number;
}

/** A stage result that does not answer its task (wrong shapes, keys, missing outputs): fails the job. */
export class InvalidResultError extends LongshotError {
  constructor(message: string) {
    super(message, { code: "INTERNAL" });
    this.name = "InvalidResultError";
  }
}

function sameShape(shape: readonly number[], expected: readonly number[]): boolean {
  return shape.length === expected.length && shape.every((d, i) => d === expected[i]);
}

/** The store's key of `uri`, or undefined when the URI is not in its bucket. */
function keyIn(store: S3BlobStore, uri: string): string | undefined {
  try {
    return store.keyOf(uri);
  } catch {
    return undefined;
  }
}

/** The result as recorded, after checking that it answers its task; InvalidResultError otherwise. */
export function checkResult(
  store: S3BlobStore,
  shape: PackShape | undefined,
  run: RunRecord,
  job: Job,
  task: TaskRecord,
  result: StageResult,
): TaskResultRecord {
  if (shape === undefined) throw new InvalidResultError(`pack ${run.pack.name} is not served by this gateway`);
  const jobId = run.jobId;
  const where = `result of task ${result.taskId}`;
  const ref = (r: LatentRef | undefined, field: string, key: string, dims: number[]): StoredRef => {
    let valid: LatentRef;
    try {
      valid = validateLatentRef(r, field);
    } catch (err) {
      throw new InvalidResultError(`${where}: ${(err as Error).message}`);
    }
    if (valid.dtype !== DataType.DATA_TYPE_FLOAT32) {
      throw new InvalidResultError(`${where}: ${field}.dtype must be float32`);
    }
    if (!sameShape(valid.shape, dims)) {
      throw new InvalidResultError(
        `${where}: ${field}.shape must be [${dims.join(", ")}], got [${valid.shape.join(", ")}]`,
      );
    }
    const actualKey = keyIn(store, valid.uri);
    if (actualKey === undefined) {
      throw new InvalidResultError(`${where}: ${field}.uri ${valid.uri} is not in bucket ${store.bucket}`);
    }
    if (actualKey !== key)
      throw new InvalidResultError(`${where}: ${field} must be stored at ${key}, is at ${actualKey}`);
    return storedRef(valid);
  };
  const { latentChannels: c, latentHeight: h, latentWidth: w } = shape;
  const base = {
    workerId: result.workerId,
    startTime: result.timings?.startTime?.toISOString() ?? "",
    endTime: result.timings?.endTime?.toISOString() ?? "",
  };
  const now = new Date();
  if (task.stage === "keyframe") {
    const k = run.plan.levels[0] as number;
    return resultRecord(
      {
        ...base,
        latents: ref(result.latents, "latents", keyframesKey(jobId), [1, c, k, h, w]),
        text: ref(result.textEmbeddings, "text_embeddings", textKey(jobId), [2, shape.textTokens, shape.textHidden]),
      },
      now,
    );
  }
  if (task.stage === "interpolation") {
    const win = task.window;
    if (win === undefined) throw new InvalidResultError(`${where}: the run record has no window for this task`);
    if (result.windowEnd !== 0 && (result.windowStart !== win.start || result.windowEnd !== win.end)) {
      throw new InvalidResultError(
        `${where}: covers frames [${result.windowStart}, ${result.windowEnd}) but the task is [${win.start}, ${win.end})`,
      );
    }
    return resultRecord(
      {
        ...base,
        latents: ref(result.latents, "latents", windowKey(jobId, task.level, win), [1, c, win.end - win.start, h, w]),
      },
      now,
    );
  }
  if (result.artifacts.length === 0) throw new InvalidResultError(`${where}: the decode produced no files`);
  const prefix = jobPrefix(jobId);
  result.artifacts.forEach((a, i) => {
    const key = keyIn(store, a.uri);
    if (key === undefined) {
      throw new InvalidResultError(`${where}: artifacts[${i}].uri ${a.uri} is not in bucket ${store.bucket}`);
    }
    if (!key.startsWith(prefix)) throw new InvalidResultError(`${where}: artifacts[${i}] is outside ${prefix}`);
    if (!/^[0-9a-f]{64}$/.test(a.sha256)) throw new InvalidResultError(`${where}: artifacts[${i}].sha256 is not hex`);
    if (a.bytes <= 0n) throw new InvalidResultError(`${where}: artifacts[${i}] is empty`);
  });
  for (const format of job.request?.outputFormats ?? []) {
    if (!result.artifacts.some((a) => a.format === format)) {
      throw new InvalidResultError(`${where}: no ${OutputFormat[format]} file, which the request asked for`);
    }
  }
  return resultRecord({ ...base, artifacts: result.artifacts }, now);
}
