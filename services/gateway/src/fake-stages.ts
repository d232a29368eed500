/**
 * For this package's integration tests: what a stage service returns for a task, with zero tensors of
 * the tiny pack's shapes in place of model output, so the coordinator checks, stitches and finishes
 * jobs as with the real services. Not exported from the package.
 */
import { type LatentRef as BlobLatentRef, putTensor, type S3BlobStore } from "@longshot/blob";
import { type Bus, replayEvents, runStageWorker, type StageHandler, type StageName, type Worker } from "@longshot/bus";
import { createLogger } from "@longshot/core";
import {
  Artifact,
  dataTypeOf,
  type JobEvent,
  type LatentRef,
  OutputFormat,
  StageResult,
  type StageTask,
} from "@longshot/proto";
import { Tensor } from "@longshot/tensor";
import { textKey } from "./plan.js";

function protoRef(r: BlobLatentRef): LatentRef {
  return { uri: r.uri, shape: [...r.shape], dtype: dataTypeOf(r.dtype), sha256: r.sha256, bytes: BigInt(r.bytes) };
}

/** The result of `task` with zero tensors of the tiny pack's shapes (and small placeholder video files). */
export async function fakeStage(store: S3BlobStore, task: StageTask): Promise<StageResult> {
  const base = StageResult.fromPartial({ jobId: task.jobId, taskId: task.taskId, stage: task.stage });
  const p = task.params;
  if (p?.$case === "keyframe") {
    const latents = await putTensor(store, Tensor.zeros([1, 4, p.value.numFrames, 4, 4]), { key: task.outputKey });
    const text = await putTensor(store, Tensor.zeros([2, 8, 8]), { key: textKey(task.jobId) });
    return { ...base, latents: protoRef(latents), textEmbeddings: protoRef(text) };
  }
  if (p?.$case === "interpolation") {
    const frames = p.value.windowEnd - p.value.windowStart;
    const latents = await putTensor(store, Tensor.zeros([1, 4, frames, 4, 4]), { key: task.outputKey });
    return { ...base, latents: protoRef(latents) };
  }
  if (p?.$case === "decode") {
    const artifacts: Artifact[] = [];
    for (const format of p.value.outputFormats) {
      const key = task.outputKey.replace(/\.mp4$/, format === OutputFormat.OUTPUT_FORMAT_GIF ? ".gif" : ".mp4");
      const ref = await store.putAt(key, new TextEncoder().encode(`${OutputFormat[format]} of ${task.jobId}`));
      artifacts.push(Artifact.fromPartial({ format, uri: ref.uri, sha256: ref.sha256, bytes: BigInt(ref.bytes) }));
    }
    return { ...base, artifacts };
  }
  throw new Error(`task ${task.taskId} has no params`);
}

/** A stage worker in process that runs `handle` with the stage protocol of @longshot/bus: quick pulls and stops, every step reported. */
export function startFakeWorker(bus: Bus, consumer: StageName, handle: StageHandler, concurrency = 1): Promise<Worker> {
  return runStageWorker({
    js: bus.js,
    nc: bus.nc,
    consumer,
    logger: createLogger("fake-stage", "silent"),
    concurrency,
    pullExpiresMs: 1000,
    stopTimeoutMs: 1000,
    progressIntervalMs: 0,
    handle,
  });
}

/** Every event of `jobId` recorded so far (a replay from sequence 1 that stops after 5 s). */
export async function recordedEvents(bus: Bus, jobId: string): Promise<JobEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  const out: JobEvent[] = [];
  try {
    for await (const e of replayEvents(bus.js, jobId, 1n, { signal: ac.signal })) out.push(e);
  } finally {
    clearTimeout(timer);
  }
  return out;
}
