/**
 * Job records in the JetStream KV bucket `longshot-jobs`, protobuf-encoded `Job` values:
 *
 * - `job.<id>`      — the job; created once (`create` fails if it exists), then changed only by
 *                     compare-and-set on its revision, through the lifecycle guard (job-state.ts).
 * - `idem.<sha256>` — idempotency key (SHA-256 of the client's key) → job id; claimed with create,
 *                     so two gateways racing on the same key agree on one job.
 *
 * Every state lives here, so any gateway replica can answer and a restart loses nothing. Reads go
 * to the stream leader (no direct gets), so a reader sees its own writes.
 */
import { createHash } from "node:crypto";
import { IntegrityError, InvalidArgumentError, type Logger, NotFoundError } from "@longshot/core";
import { Job, JobState } from "@longshot/proto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { updateByCompareAndSet } from "./compare-and-set.js";
import {
  AlreadyExistsError,
  errorMessage,
  IllegalTransitionError,
  isWrongLastSequence,
  RevisionConflictError,
  toBusError,
} from "./errors.js";
import { canTransition, stateName } from "./job-state.js";
import { checkJobId, isValidJobId, JOBS_BUCKET } from "./names.js";

export interface StoredJob {
  job: Job;
  /** KV revision of this value: pass it to `compareAndSet`. */
  revision: number;
}

export interface JobStoreOptions {
  bucket?: string;
  /** Compare-and-set attempts of `update` before it gives up with RevisionConflictError (default 10). */
  maxUpdateAttempts?: number;
  logger?: Logger;
}

export interface ListJobsOptions {
  /** Only jobs in this state. */
  state?: JobState;
  /** Jobs per page, 1..1000 (default 50). */
  pageSize?: number;
  /** `nextPageToken` of the previous page; empty or absent: the first page. */
  pageToken?: string;
}

export interface JobPage {
  /** Newest first (by create time, then id). */
  jobs: StoredJob[];
  /** Token of the next page; empty when this is the last one. */
  nextPageToken: string;
}

/** What `update`'s function returns: the new job, or null to leave the record unchanged. */
export type JobUpdater = (job: Job) => Job | null | Promise<Job | null>;

const JOB_PREFIX = "job.";
const IDEM_PREFIX = "idem.";
const MAX_IDEMPOTENCY_KEY_CHARS = 128;
const LIST_GET_CONCURRENCY = 16;

function jobKey(id: string): string {
  return `${JOB_PREFIX}${checkJobId(id, "job.id")}`;
}

function idemKey(key: string): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    throw new InvalidArgumentError("idempotency_key", `must be 1-${MAX_IDEMPOTENCY_KEY_CHARS} characters`);
  }
  return `${IDEM_PREFIX}${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

function encodeJob(job: Job): Uint8Array {
  return Job.encode(job).finish();
}

function decodeJob(entry: KvEntry, id: string): Job {
  let job: Job;
  try {
    job = Job.decode(entry.value);
  } catch (err) {
    throw new IntegrityError(
      `job ${id}: stored value (revision ${entry.revision}) is not a Job: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  if (job.id !== id) {
    throw new IntegrityError(`job ${id}: stored value (revision ${entry.revision}) has id ${JSON.stringify(job.id)}`);
  }
  return job;
}

function isLive(entry: KvEntry | null): entry is KvEntry {
  return entry !== null && entry.operation === "PUT";
}

interface PageCursor {
  /** create time, ms since the epoch */
  t: number;
  id: string;
  /** state filter the token was issued for */
  s: number;
}

function encodeCursor(c: PageCursor): string {
  return Buffer.from(JSON.stringify(c), "utf8").toString("base64url");
}

function decodeCursor(token: string, state: number): PageCursor {
  let c: Partial<PageCursor>;
  try {
    c = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<PageCursor>;
  } catch {
    throw new InvalidArgumentError("page_token", "is not a token returned by ListJobs");
  }
  if (
    typeof c !== "object" ||
    c === null ||
    typeof c.t !== "number" ||
    typeof c.id !== "string" ||
    typeof c.s !== "number"
  ) {
    throw new InvalidArgumentError("page_token", "is not a token returned by ListJobs");
  }
  if (c.s !== state) throw new InvalidArgumentError("page_token", "was issued for another state filter");
  return c as PageCursor;
}

/** Newest first: create time descending, then id descending. */
function compareNewestFirst(a: { t: number; id: string }, b: { t: number; id: string }): number {
  if (a.t !== b.t) return b.t - a.t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export class JobStore {
  private constructor(
    private readonly kv: KV,
    readonly bucket: string,
    private readonly maxUpdateAttempts: number,
    private readonly logger: Logger | undefined,
  ) {}

  /** Opens the bucket (created by ensureTopology); NotFoundError when it does not exist. */
  static async open(js: JetStreamClient, options: JobStoreOptions = {}): Promise<JobStore> {
    const bucket = options.bucket ?? JOBS_BUCKET;
    const attempts = options.maxUpdateAttempts ?? 10;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) {
      throw new InvalidArgumentError("maxUpdateAttempts", `must be an integer in [1, 1000], got ${attempts}`);
    }
    try {
      const jsm = await js.jetstreamManager();
      await jsm.streams.info(`KV_${bucket}`);
      const kv = await new Kvm(js).open(bucket);
      return new JobStore(kv, bucket, attempts, options.logger);
    } catch (err) {
      throw toBusError(err, `open KV bucket ${bucket}`);
    }
  }

  /** Stores a new job (state QUEUED); AlreadyExistsError when the id is taken. */
  async create(job: Job): Promise<StoredJob> {
    const key = jobKey(job.id);
    if (job.state !== JobState.JOB_STATE_QUEUED) {
      throw new InvalidArgumentError("job.state", `a new job must be JOB_STATE_QUEUED, got ${stateName(job.state)}`);
    }
    const now = new Date();
    const stored: Job = { ...job, createTime: job.createTime ?? now, updateTime: now };
    try {
      const revision = await this.kv.create(key, encodeJob(stored));
      return { job: stored, revision };
    } catch (err) {
      if (isWrongLastSequence(err)) throw new AlreadyExistsError(key, `job ${job.id} already exists`, { cause: err });
      throw toBusError(err, `create job ${job.id}`);
    }
  }

  /** The job and its revision, or undefined when there is no such job. */
  async find(id: string): Promise<StoredJob | undefined> {
    const key = jobKey(id);
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(key);
    } catch (err) {
      throw toBusError(err, `get job ${id}`);
    }
    if (!isLive(entry)) return undefined;
    return { job: decodeJob(entry, id), revision: entry.revision };
  }

  /** The job and its revision; NotFoundError when there is no such job. */
  async get(id: string): Promise<StoredJob> {
    const found = await this.find(id);
    if (found === undefined) throw new NotFoundError(`job ${id} not found`);
    return found;
  }

  /**
   * Writes `job` only if the record is still at `revision` (and the state change is allowed):
   * RevisionConflictError when it moved on, IllegalTransitionError for a forbidden state change.
   */
  async compareAndSet(id: string, job: Job, revision: number): Promise<StoredJob> {
    const current = await this.get(id);
    if (current.revision !== revision) {
      throw new RevisionConflictError(
        jobKey(id),
        `job ${id}: revision ${revision} is stale (now ${current.revision})`,
        {
          expectedRevision: revision,
        },
      );
    }
    return this.write(id, current.job, job, revision);
  }

  /**
   * Reads the job, applies `fn` and writes the result by compare-and-set, re-reading and re-applying
   * on conflict (up to maxUpdateAttempts, with jittered pauses). `fn` gets a fresh copy each time and
   * may return null to leave the record as it is. Throws NotFoundError, IllegalTransitionError, or
   * RevisionConflictError after too many conflicts.
   */
  async update(id: string, fn: JobUpdater): Promise<StoredJob> {
    const { stored } = await updateByCompareAndSet(
      {
        key: jobKey(id),
        read: () => this.get(id),
        copy: (current: StoredJob) => Job.decode(encodeJob(current.job)),
        write: (current, next) => this.write(id, current.job, next, current.revision),
        maxAttempts: this.maxUpdateAttempts,
        logger: this.logger,
      },
      async (job: Job) => ({ next: await fn(job), value: undefined }),
    );
    return stored;
  }

  private async write(id: string, from: Job, to: Job, revision: number): Promise<StoredJob> {
    if (to.id !== id)
      throw new InvalidArgumentError("job.id", `an update must keep the id ${id}, got ${JSON.stringify(to.id)}`);
    if (!canTransition(from.state, to.state))
      throw new IllegalTransitionError(id, stateName(from.state), stateName(to.state));
    const stored: Job = { ...to, updateTime: new Date() };
    try {
      const rev = await this.kv.update(jobKey(id), encodeJob(stored), revision);
      return { job: stored, revision: rev };
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new RevisionConflictError(jobKey(id), `job ${id}: changed since revision ${revision}`, {
          expectedRevision: revision,
          cause: err,
        });
      }
      throw toBusError(err, `update job ${id}`);
    }
  }

  /** Removes a job record (retention clean-up); its history is purged. */
  async delete(id: string): Promise<void> {
    try {
      await this.kv.purge(jobKey(id));
    } catch (err) {
      throw toBusError(err, `delete job ${id}`);
    }
  }

  /**
   * A page of jobs, newest first, optionally only those in `state`. The token is a cursor (create
   * time and id of the last job on the page), so jobs created meanwhile do not shift later pages.
   * Cost: one read of every job record per page (fine for thousands of jobs; set a bucket TTL).
   */
  async list(options: ListJobsOptions = {}): Promise<JobPage> {
    const pageSize = options.pageSize ?? 50;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new InvalidArgumentError("page_size", `must be an integer in [1, 1000], got ${pageSize}`);
    }
    const stateFilter = options.state ?? JobState.JOB_STATE_UNSPECIFIED;
    const cursor =
      options.pageToken === undefined || options.pageToken === ""
        ? undefined
        : decodeCursor(options.pageToken, stateFilter);

    let keys: string[];
    try {
      keys = [];
      for await (const k of await this.kv.keys(`${JOB_PREFIX}>`)) {
        // Keys this store did not write (not `job.<valid id>`) are not jobs.
        if (isValidJobId(k.slice(JOB_PREFIX.length))) keys.push(k);
      }
    } catch (err) {
      throw toBusError(err, "list job keys");
    }
    const all: Array<StoredJob & { t: number; id: string }> = [];
    for (let i = 0; i < keys.length; i += LIST_GET_CONCURRENCY) {
      const chunk = keys.slice(i, i + LIST_GET_CONCURRENCY);
      const found = await Promise.all(
        chunk.map((k) =>
          this.find(k.slice(JOB_PREFIX.length)).catch((err: unknown) => {
            if (err instanceof IntegrityError) {
              this.logger?.warn({ err, key: k }, "skipping an unreadable job record");
              return undefined;
            }
            throw err;
          }),
        ),
      );
      for (const f of found) {
        if (f === undefined) continue;
        if (stateFilter !== JobState.JOB_STATE_UNSPECIFIED && f.job.state !== stateFilter) continue;
        all.push({ ...f, t: f.job.createTime?.getTime() ?? 0, id: f.job.id });
      }
    }
    all.sort(compareNewestFirst);
    const start = cursor === undefined ? 0 : all.findIndex((j) => compareNewestFirst(j, cursor) > 0);
    const page = start < 0 ? [] : all.slice(start, start + pageSize);
    const last = page[page.length - 1];
    const more = start >= 0 && start + pageSize < all.length;
    return {
      jobs: page.map(({ job, revision }) => ({ job, revision })),
      nextPageToken: more && last !== undefined ? encodeCursor({ t: last.t, id: last.id, s: stateFilter }) : "",
    };
  }

  /**
   * The job's current value, then every later change, until the record is deleted or `signal` aborts.
   * Yields nothing for an unknown job until it is created.
   */
  async *watch(id: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<StoredJob, void, undefined> {
    const key = jobKey(id);
    let iter: Awaited<ReturnType<KV["watch"]>>;
    try {
      iter = await this.kv.watch({ key });
    } catch (err) {
      throw toBusError(err, `watch job ${id}`);
    }
    const stop = () => iter.stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      if (options.signal?.aborted) return;
      for await (const e of iter) {
        if (e.operation !== "PUT") return;
        yield { job: decodeJob(e, id), revision: e.revision };
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
      iter.stop();
    }
  }

  /**
   * Binds a client's idempotency key to `jobId` unless it is already bound: returns the job id the
   * key stands for and whether this call bound it. Claim the key before creating the job; a caller
   * that finds the key bound but the job missing (the first caller crashed in between) creates the
   * job with that id.
   */
  async claimIdempotencyKey(key: string, jobId: string): Promise<{ jobId: string; claimed: boolean }> {
    const k = idemKey(key);
    checkJobId(jobId);
    try {
      await this.kv.create(k, jobId);
      return { jobId, claimed: true };
    } catch (err) {
      if (!isWrongLastSequence(err)) throw toBusError(err, "claim idempotency key");
    }
    const existing = await this.lookupIdempotencyKey(key);
    if (existing === undefined) {
      // Deleted between our create and get (a TTL ran out): try once more.
      await this.kv.create(k, jobId).catch((err: unknown) => {
        throw toBusError(err, "claim idempotency key");
      });
      return { jobId, claimed: true };
    }
    return { jobId: existing, claimed: false };
  }

  /** The job id an idempotency key is bound to, if any. */
  async lookupIdempotencyKey(key: string): Promise<string | undefined> {
    const k = idemKey(key);
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(k);
    } catch (err) {
      throw toBusError(err, "look up idempotency key");
    }
    if (!isLive(entry)) return undefined;
    const text: string = new TextDecoder().decode(entry.value);
    if (isValidJobId(text)) return text;
    throw new IntegrityError(
      `idempotency record ${k} holds ${JSON.stringify(entry.string().slice(0, 80))}, not a job id`,
    );
  }
}
