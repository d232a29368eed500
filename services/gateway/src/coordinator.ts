/**
 * The coordinator: moves jobs forward from what the stages report. Any gateway replica may take any
 * message; every change is a compare-and-set, so replicas (and restarts) never step on each other.
 * Each concern has its own file; this class is what the gateway's loops call:
 *
 * - `handleResult` (stage results, result-handler.ts): record the result, `drive` the job;
 * - `handleDeadLetter` (dead letters, dead-letter-handler.ts): fail the job, or re-run a corrupted
 *   input's producer;
 * - `onJobEvent` (the progress listener, progress.ts): the keyframe stage starting makes a job RUNNING;
 * - `reconcile` / `recoverLostTasks` (reconcile.ts): settle ended jobs, drive active ones, publish lost
 *   tasks again;
 * - `advance`, `fail`, `cancel`, `settle`, `presign` (lifecycle.ts): a job's way to its end.
 *
 * Checking a result against its task is result-check.ts; stitching a level's windows is stitch.ts;
 * what runs next is decided in one place, `drive` (drive.ts).
 */
import { type DeadLetterRecord, RevisionConflictError } from "@longshot/bus";
import { type Logger, UnavailableError } from "@longshot/core";
import type { Artifact, Job, JobEvent, Stage, StageResult } from "@longshot/proto";
import { handleDeadLetter } from "./dead-letter-handler.js";
import type { DriveEffects } from "./drive.js";
import { type Clock, type CoordinatorOptions, JobLifecycle, systemClock } from "./lifecycle.js";
import { onJobEvent } from "./progress.js";
import { reconcile, recoverLostTasks } from "./reconcile.js";
import type { PackShape } from "./result-check.js";
import { handleResult } from "./result-handler.js";

export type { Clock, CoordinatorOptions, PackShape };
export { systemClock };

/** A lost compare-and-set race is worth retrying (with the message), not a reason to give up on a job. */
function asRetryable(err: unknown): unknown {
  if (err instanceof RevisionConflictError) {
    return new UnavailableError(`${err.message}; retrying`, { cause: err });
  }
  return err;
}

export class Coordinator {
  readonly #lc: JobLifecycle;

  constructor(options: CoordinatorOptions) {
    this.#lc = new JobLifecycle(options);
  }

  /** What `drive` does in the world (publish tasks and events, stitch, verify objects). */
  get effects(): DriveEffects {
    return this.#lc.effects;
  }

  /**
   * Handles one stage result. Throws transient errors (the result is retried, which is safe: handling
   * is idempotent), including losing too many compare-and-set races.
   */
  async handleResult(result: StageResult, logger: Logger = this.#lc.log): Promise<void> {
    await handleResult(this.#lc, result, logger).catch((err: unknown) => {
      throw asRetryable(err);
    });
  }

  /** Handles one DLQ record. Throws transient errors (the record is retried). */
  async handleDeadLetter(record: DeadLetterRecord): Promise<void> {
    await handleDeadLetter(this.#lc, record).catch((err: unknown) => {
      throw asRetryable(err);
    });
  }

  /** A job event seen on the event stream: the keyframe stage starting makes a queued job RUNNING. */
  onJobEvent(event: JobEvent): Promise<void> {
    return onJobEvent(this.#lc.o.jobs, event);
  }

  /** One pass of the reconciler over the admission slots. Errors of one job do not stop the pass. */
  reconcile(): Promise<void> {
    return reconcile(this.#lc);
  }

  /** Publishes again the lost tasks of an active job, or fails it when one was lost too often. */
  recoverLostTasks(jobId: string): Promise<void> {
    return recoverLostTasks(this.#lc, jobId);
  }

  /** Drives a job from its current record (after Generate, and from the reconciler). */
  advance(jobId: string): Promise<void> {
    return this.#lc.advance(jobId);
  }

  /** Fails a job (unless it already ended) with a gRPC code name and a reason; stops its running tasks. */
  fail(jobId: string, code: string, reason: string, stage?: Stage): Promise<void> {
    return this.#lc.fail(jobId, code, reason, stage);
  }

  /** Cancels a queued or running job; an ended job is returned unchanged. */
  cancel(jobId: string, reason: string): Promise<Job> {
    return this.#lc.cancel(jobId, reason);
  }

  /** For an ended job: its terminal event (once), its objects removed, its admission slot freed. */
  settle(jobId: string): Promise<void> {
    return this.#lc.settle(jobId);
  }

  /** Artifacts with fresh presigned GET URLs. */
  presign(artifacts: readonly Artifact[]): Promise<Artifact[]> {
    return this.#lc.presign(artifacts);
  }
}
