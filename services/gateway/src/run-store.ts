/**
 * The gateway's KV bucket `longshot-runs`:
 *
 * - `run.<jobId>` — the job's run record (run-record.ts), JSON, changed only by compare-and-set;
 * - `slot.<n>`    — admission slots, n in [0, maxActiveJobs): a queued or running job holds one
 *                   (value: its id). Generate claims a free slot with `create` (atomic across gateway
 *                   replicas), so at most maxActiveJobs jobs are ever active; a job releases its slot
 *                   when it ends. A slot whose job ended or never got created (a gateway crashed in
 *                   between) is reclaimed when the slots run out.
 *
 * Reads go to the stream leader (no direct gets), so a writer sees its own writes.
 */

import {
  type Change,
  isWrongLastSequence,
  openRunsBucket,
  RevisionConflictError,
  RUNS_BUCKET,
  toBusError,
  updateByCompareAndSet,
} from "@longshot/bus";
import { IntegrityError, InvalidArgumentError, type Logger, NotFoundError } from "@longshot/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { cloneRun, decodeRunRecord, encodeRunRecord, type RunRecord } from "./run-record.js";

export interface RunStoreOptions {
  /** Default `longshot-runs` (its settings are in @longshot/bus's topology). */
  bucket?: string;
  /** How long records live after their last write (default 7 days; slots are rewritten as jobs come and go). */
  ttlMs?: number;
  replicas?: number;
  storage?: "file" | "memory";
  logger?: Logger;
}

export interface StoredRun {
  run: RunRecord;
  revision: number;
}

/**
 * What `update`'s function returns: `next`, the new record (null: leave it as it is), and `value`, which
 * `update` hands back to its caller (what the function found or decided).
 */
export type RunChange<T> = Change<RunRecord, T>;
export type RunUpdater<T> = (run: RunRecord) => RunChange<T> | Promise<RunChange<T>>;

const MAX_UPDATE_ATTEMPTS = 20;

function isLive(e: KvEntry | null): e is KvEntry {
  return e !== null && e.operation === "PUT";
}

export class RunStore {
  private constructor(
    private readonly kv: KV,
    readonly bucket: string,
    private readonly logger: Logger | undefined,
  ) {}

  /** Creates the bucket when missing (safe from every replica at once) and opens it. */
  static async open(js: JetStreamClient, options: RunStoreOptions = {}): Promise<RunStore> {
    const kv = await openRunsBucket(js, {
      ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
      ...(options.ttlMs === undefined ? {} : { runsTtlMs: options.ttlMs }),
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
      ...(options.storage === undefined ? {} : { storage: options.storage }),
    });
    return new RunStore(kv, options.bucket ?? RUNS_BUCKET, options.logger);
  }

  // --- run records ------------------------------------------------------------------------------

  async create(run: RunRecord): Promise<StoredRun> {
    try {
      const revision = await this.kv.create(`run.${run.jobId}`, encodeRunRecord(run));
      return { run, revision };
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new RevisionConflictError(`run.${run.jobId}`, `run record of job ${run.jobId} already exists`);
      }
      throw toBusError(err, `create run record of job ${run.jobId}`);
    }
  }

  async find(jobId: string): Promise<StoredRun | undefined> {
    let e: KvEntry | null;
    try {
      e = await this.kv.get(`run.${jobId}`);
    } catch (err) {
      throw toBusError(err, `get run record of job ${jobId}`);
    }
    if (!isLive(e)) return undefined;
    return { run: decodeRunRecord(e.value, jobId), revision: e.revision };
  }

  async get(jobId: string): Promise<StoredRun> {
    const found = await this.find(jobId);
    if (found === undefined) throw new NotFoundError(`run record of job ${jobId} not found`);
    return found;
  }

  /** Writes `run` only if the record is still at `revision`: RevisionConflictError otherwise. */
  async compareAndSet(run: RunRecord, revision: number): Promise<StoredRun> {
    try {
      const rev = await this.kv.update(`run.${run.jobId}`, encodeRunRecord(run), revision);
      return { run, revision: rev };
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new RevisionConflictError(`run.${run.jobId}`, `run record of job ${run.jobId} changed since ${revision}`);
      }
      throw toBusError(err, `update run record of job ${run.jobId}`);
    }
  }

  /**
   * Read, apply `fn`, compare-and-set; on a conflict read again and re-apply (fn must be safe to
   * run again: it gets a fresh copy each time). Returns the stored record and the `value` of fn's
   * last run.
   */
  async update<T>(jobId: string, fn: RunUpdater<T>): Promise<StoredRun & { value: T }> {
    const { stored, value } = await updateByCompareAndSet(
      {
        key: `run.${jobId}`,
        read: () => this.get(jobId),
        copy: (current: StoredRun) => cloneRun(current.run),
        write: (current, next: RunRecord) => this.compareAndSet(next, current.revision),
        maxAttempts: MAX_UPDATE_ATTEMPTS,
        logger: this.logger,
      },
      fn,
    );
    return { ...stored, value };
  }

  // --- admission slots --------------------------------------------------------------------------

  /**
   * Claims a free slot in [0, max) for `jobId` and returns its number, or undefined when all are
   * held. Slots are tried from a random start so replicas rarely collide. When none is free,
   * `isStale(jobId)` is asked about each holder; a stale slot is taken over by compare-and-set.
   */
  async claimSlot(
    jobId: string,
    max: number,
    isStale: (holder: string, claimedAt: Date) => Promise<boolean>,
  ): Promise<number | undefined> {
    if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError("max", `must be >= 1, got ${max}`);
    const start = Math.floor(Math.random() * max);
    const held: Array<{ slot: number; holder: string; revision: number; created: Date }> = [];
    for (let i = 0; i < max; i++) {
      const slot = (start + i) % max;
      try {
        await this.kv.create(`slot.${slot}`, jobId);
        return slot;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw toBusError(err, `claim admission slot ${slot}`);
      }
      const e = await this.kv.get(`slot.${slot}`).catch((err: unknown) => {
        throw toBusError(err, `read admission slot ${slot}`);
      });
      if (isLive(e)) held.push({ slot, holder: e.string(), revision: e.revision, created: e.created });
    }
    for (const h of held) {
      if (h.holder === jobId) return h.slot;
      if (!(await isStale(h.holder, h.created))) continue;
      try {
        await this.kv.update(`slot.${h.slot}`, jobId, h.revision);
        this.logger?.warn({ slot: h.slot, staleJob: h.holder, jobId }, "took over the admission slot of an ended job");
        return h.slot;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw toBusError(err, `take over admission slot ${h.slot}`);
      }
    }
    return undefined;
  }

  /** Frees `slot` if `jobId` still holds it. */
  async releaseSlot(slot: number, jobId: string): Promise<void> {
    let e: KvEntry | null;
    try {
      e = await this.kv.get(`slot.${slot}`);
    } catch (err) {
      throw toBusError(err, `read admission slot ${slot}`);
    }
    if (!isLive(e) || e.string() !== jobId) return;
    try {
      await this.kv.delete(`slot.${slot}`, { previousSeq: e.revision });
    } catch (err) {
      if (isWrongLastSequence(err)) return; // taken over meanwhile
      throw toBusError(err, `release admission slot ${slot}`);
    }
  }

  /** The jobs holding slots now, with when they claimed them (for the reconciler and status). */
  async slotHolders(): Promise<Array<{ slot: number; jobId: string; created: Date }>> {
    const out: Array<{ slot: number; jobId: string; created: Date }> = [];
    try {
      const keys: string[] = [];
      for await (const k of await this.kv.keys("slot.>")) keys.push(k);
      for (const k of keys) {
        const e = await this.kv.get(k);
        if (isLive(e)) out.push({ slot: Number(k.slice("slot.".length)), jobId: e.string(), created: e.created });
      }
    } catch (err) {
      if (err instanceof IntegrityError) throw err;
      throw toBusError(err, "list admission slots");
    }
    return out.sort((a, b) => a.slot - b.slot);
  }
}
