/**
 * The coordinator's work on the object store: stitching a level's windows into one latent
 * (`blendWindows`, written to `interp<L>.safetensors`), checking that a recorded object is still intact,
 * and listing a job's objects for the clean-up. A window or input that fails its hash check (or is gone)
 * is a CorruptObjectError, which `drive` answers by running its producer again.
 */
import { getTensor, putTensor, type S3BlobStore } from "@longshot/blob";
import { IntegrityError, type Logger, NotFoundError, UnavailableError } from "@longshot/core";
import { blendWindows, type WindowResult } from "@longshot/engine/light";
import { CorruptObjectError, type StitchInput } from "./drive.js";
import { levelKey } from "./plan.js";
import type { StoredRef } from "./run-record.js";

async function readTensor(store: S3BlobStore, ref: StoredRef, key: string) {
  try {
    return await getTensor(store, ref);
  } catch (err) {
    if (err instanceof IntegrityError || err instanceof NotFoundError) {
      throw new CorruptObjectError(key, err.message, { cause: err });
    }
    throw err;
  }
}

/** Blends a level's windows (pinned to its input frames in `pinned` mode) and stores the level. */
export async function stitchLevel(store: S3BlobStore, input: StitchInput, log: Logger): Promise<StoredRef> {
  const results: WindowResult[] = [];
  for (const w of input.windows) {
    results.push({ window: w.window, latents: await readTensor(store, w.ref, w.key) });
  }
  const keyframes = input.mode === "pinned" ? await readTensor(store, input.input, input.inputKey) : undefined;
  const out = blendWindows(results, {
    frames: input.level.outputFrames,
    mode: input.mode,
    keyframes,
    factor: input.factor,
  });
  const ref = await putTensor(store, out, { key: levelKey(input.jobId, input.level.level) });
  log.debug({ jobId: input.jobId, level: input.level.level, windows: input.windows.length }, "level stitched");
  return { uri: ref.uri, shape: ref.shape, dtype: ref.dtype, sha256: ref.sha256, bytes: ref.bytes };
}

/** Whether the object `ref` names is there with its recorded hash. */
export async function isIntact(store: S3BlobStore, ref: StoredRef): Promise<boolean> {
  let key: string;
  try {
    key = store.keyOf(ref.uri);
  } catch {
    return false;
  }
  try {
    await store.get(store.refFor(key, ref.sha256, ref.bytes));
    return true;
  } catch (err) {
    if (err instanceof IntegrityError || err instanceof NotFoundError) return false;
    throw err;
  }
}

/** Every key under `prefix` in the store's bucket. */
export async function listKeys(store: S3BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const item of store.client.listObjectsV2(store.bucket, prefix, true)) {
      const name = (item as { name?: string }).name;
      if (name !== undefined) out.push(name);
    }
  } catch (err) {
    throw new UnavailableError(`list ${prefix} in bucket ${store.bucket}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return out;
}
