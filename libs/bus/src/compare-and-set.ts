/**
 * The one compare-and-set update loop of the KV stores (`JobStore` here, the gateway's `RunStore`):
 * read the record, let the caller's function decide the new one, write it at the revision that was
 * read; when another writer got there first, read again and decide again, up to `maxAttempts` times
 * with the CAS back-off (retry.ts) between tries.
 */
import type { Logger } from "@longshot/core";
import { RevisionConflictError } from "./errors.js";
import { CAS_BACKOFF, retry } from "./retry.js";

/** What an update function decides: the new record (null: leave it as it is) and a value for the caller. */
export interface Change<R, T> {
  next: R | null;
  value: T;
}

/** How one store reads, copies and writes a record. */
export interface CompareAndSetSteps<R, S extends { revision: number }> {
  /** The KV key, for messages. */
  key: string;
  /** The record and its revision now. */
  read(): Promise<S>;
  /** A copy of the record the update function may change freely. */
  copy(stored: S): R;
  /** Writes `next` only if the record is still at `stored.revision`; RevisionConflictError otherwise. */
  write(stored: S, next: R): Promise<S>;
  maxAttempts: number;
  logger?: Logger | undefined;
}

/**
 * Applies `fn` by compare-and-set (see the module comment). `fn` gets a fresh copy on each try, so it
 * must be safe to run again. Returns the stored record (unchanged when `fn` decided null) and the
 * value of `fn`'s last run. After `maxAttempts` lost races: RevisionConflictError.
 */
export async function updateByCompareAndSet<R, S extends { revision: number }, T>(
  steps: CompareAndSetSteps<R, S>,
  fn: (record: R) => Change<R, T> | Promise<Change<R, T>>,
): Promise<{ stored: S; value: T }> {
  let tries = 0;
  try {
    return await retry(
      async (attempt) => {
        tries = attempt;
        const current = await steps.read();
        const { next, value } = await fn(steps.copy(current));
        return { stored: next === null ? current : await steps.write(current, next), value };
      },
      {
        attempts: steps.maxAttempts,
        backoff: CAS_BACKOFF,
        retryIf: (err) => err instanceof RevisionConflictError,
        onRetry: (attempt) => steps.logger?.debug({ key: steps.key, attempt }, "update conflict; retrying"),
      },
    );
  } catch (err) {
    if (!(err instanceof RevisionConflictError) || tries < steps.maxAttempts) throw err;
    throw new RevisionConflictError(steps.key, `${steps.key}: gave up after ${tries} conflicting concurrent updates`, {
      cause: err,
    });
  }
}
