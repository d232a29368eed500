/**
 * `runWorker`: the pull loop of a stage service, the task side of the one pull loop (pull-loop.ts):
 * each of `concurrency` slots asks JetStream for one task at a time (`consumer.next()`), so replicas
 * never hoard tasks they cannot start, and:
 *
 * - decodes the payload; a malformed or hostile one (bad protobuf, wrong message type, wrong stage,
 *   oversized) is dead-lettered and terminated with the reason, and the loop goes on;
 * - runs `handle(task, ctx)` under a CONSUMER span `process <subject>` whose parent is the trace
 *   context in the message headers (or, failing that, the task's `trace_context`);
 * - while the handler runs, sends `working()` (in-progress) every `heartbeatMs` (< AckWait / 2), so
 *   long step loops are not redelivered; handlers may call `ctx.working()` more often;
 * - settles the message:
 *   success → `ackAck()` (acknowledged and confirmed);
 *   transient error (`isTransient`) with attempts left → `nak(retryDelay(deliveryCount))`;
 *   permanent error, or transient on the last allowed delivery → dead letter: a record on
 *   `longshot.dlq.<stage>`, the `onDeadLetter(task, reason)` hook (the gateway fails the job), then `term`;
 *   the job was cancelled (`isCancelled`, a cancel notice, or the handler threw CancelledError) → `term`,
 *   no dead letter;
 * - listens for `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>` (queue group, so
 *   one replica acts): a task whose last delivery timed out (a crashed or hung worker) is copied to
 *   the DLQ, reported through the hook and deleted from the work queue;
 * - listens for cancel notices on `longshot.cancel.<jobId>`: a running task of that job is aborted,
 *   and its queued tasks are terminated when they arrive.
 *
 * Stop (the `signal`, or `stop()`): no more pulls; in-flight handlers may finish within
 * `stopTimeoutMs`, after which their signal is aborted and their message is nak'ed at once, so
 * another replica takes it over. A task that arrives while stopping is nak'ed the same way.
 *
 * Handlers must keep the event loop free (run onnxruntime in worker_threads): heartbeats are
 * timers on this thread.
 */
import { hostname } from "node:os";
import { CancelledError, ConfigError, createLogger } from "@longshot/core";
import type { StageTask } from "@longshot/proto";
import { createTaskMetrics, extractContext, extractRecordContext, type TaskMetrics } from "@longshot/telemetry";
import type { Subscription } from "@nats-io/transport-node";
import { type Context, trace } from "@opentelemetry/api";
import { oneLineReason } from "./dead-letter.js";
import { CANCEL_SUBJECT_PREFIX, type StageName, stageOfSubject, TASKS_STREAM } from "./names.js";
import { startPullLoop } from "./pull-loop.js";
import {
  connectionOf,
  type DeadLetterHook,
  type DeliveryContext,
  defaultRetryDelay,
  openPullConsumer,
  type PullLoopHandle,
  type PullLoopStats,
  type PullOptions,
} from "./pull-options.js";
import { DEFAULT_MAX_TASK_BYTES, decodeTask } from "./task-codec.js";

export interface TaskContext extends DeliveryContext {
  readonly task: StageTask;
  readonly stage: StageName;
  readonly workerId: string;
}

export type TaskHandler = (task: StageTask, ctx: TaskContext) => Promise<void>;

export interface WorkerOptions extends PullOptions {
  /** Default LONGSHOT_TASKS. */
  stream?: string;
  /** Durable consumer name: the stage name (`keyframe`, `interpolation`, `decode`). */
  consumer: string;
  /** The stage; default: from the consumer's filter subject (`longshot.tasks.<stage>`). */
  stage?: StageName;
  handle: TaskHandler;
  /** Called once per dead-lettered task, before it is terminated; should fail the job. Retried 3 times. */
  onDeadLetter?: DeadLetterHook<StageTask>;
  /** Checked before a task starts: true terminates it without running (e.g. the job's KV state is CANCELLED). */
  isCancelled?: (task: StageTask) => boolean | Promise<boolean>;
  /** Listen for cancel notices on `longshot.cancel.<jobId>` (default true). */
  cancelNotices?: boolean;
  /** Default: instruments on the global meter provider, created when the worker starts. */
  metrics?: TaskMetrics;
}

export type WorkerStats = PullLoopStats;

export interface Worker extends PullLoopHandle {
  readonly stage: StageName;
  readonly workerId: string;
}

const RECENT_CANCELS = 1000;

export { defaultRetryDelay };

/** The stage a consumer reads: `stage` when given (it must match the consumer's filter), else from the filter. */
function consumerStage(stream: string, consumer: string, filter: string | undefined, stage?: StageName): StageName {
  const fromSubject = stageOfSubject(filter ?? "");
  if (stage !== undefined && fromSubject !== undefined && stage !== fromSubject) {
    throw new ConfigError(`runWorker: stage ${stage} given, but consumer ${stream}/${consumer} reads ${filter}`);
  }
  const resolved = stage ?? fromSubject;
  if (resolved === undefined) {
    throw new ConfigError(
      `runWorker: cannot tell the stage of consumer ${stream}/${consumer} (filter ${filter ?? "none"}); pass stage`,
    );
  }
  return resolved;
}

/**
 * Starts the worker loop (see the module comment) and returns once it is pulling. Throws
 * NotFoundError when the consumer does not exist (run ensureTopology) and ConfigError for bad options.
 */
export async function runWorker(options: WorkerOptions): Promise<Worker> {
  const stream = options.stream ?? TASKS_STREAM;
  const consumerName = options.consumer;
  const opened = await openPullConsumer("runWorker", options, stream, consumerName);
  const stage = consumerStage(stream, consumerName, opened.filterSubject, options.stage);
  const nc = options.nc ?? connectionOf(options.js);
  const workerId = options.workerId ?? `${hostname()}/${process.pid}`;
  const maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_TASK_BYTES;
  const metrics = options.metrics ?? createTaskMetrics();
  const logger = (options.logger ?? createLogger("bus", "warn")).child({
    component: "worker",
    stage,
    consumer: consumerName,
    workerId,
  });
  if (nc === undefined) {
    logger.warn("no NATS connection available (pass nc): cancel notices and MAX_DELIVERIES advisories are off");
  }
  const recentCancels = new Map<string, string>();

  const loop = startPullLoop<StageTask>(
    {
      ...options,
      name: "runWorker",
      noun: "task",
      stream,
      consumer: consumerName,
      workerId,
      logger,
      decode: (data) => decodeTask(data, { stage, maxBytes }),
      ids: (task) => ({ jobId: task.jobId, taskId: task.taskId }),
      handle: (task, ctx) => options.handle(task, { ...ctx, task, stage, workerId }),
      skip: async (task, log) => {
        if (recentCancels.has(task.jobId)) return `job ${task.jobId} cancelled`;
        if (options.isCancelled === undefined) return undefined;
        try {
          return (await options.isCancelled(task)) ? `job ${task.jobId} cancelled` : undefined;
        } catch (err) {
          // Cannot tell (the job store is unreachable): run the task; a cancel still reaches it by notice.
          log.warn({ err }, "isCancelled failed; running the task");
          return undefined;
        }
      },
      cancelled: (task) => `job ${task.jobId} cancelled`,
      trace: {
        parent(headers, task): Context {
          const parent = extractContext(headers);
          return trace.getSpanContext(parent) === undefined ? extractRecordContext(task.traceContext) : parent;
        },
        stage: () => stage,
      },
      deadLetters: {
        stage,
        malformed: "malformed payload",
        hook: options.onDeadLetter,
        timedOut: (task, seq, deliveries) =>
          `no delivery of task ${task?.taskId ?? `#${seq}`} finished within AckWait after ${deliveries} attempts ` +
          "(worker crashed or hung)",
      },
      observe: {
        started: () => metrics.taskStarted(stage),
        finished: (outcome, seconds) => metrics.taskFinished(stage, outcome, seconds),
        deadLettered: (kind) => metrics.deadLettered(stage, kind),
      },
    },
    opened,
  );

  // --- cancel notices -------------------------------------------------------------------------
  let sub: Subscription | undefined;
  if (nc !== undefined && options.cancelNotices !== false) {
    sub = nc.subscribe(`${CANCEL_SUBJECT_PREFIX}.*`, {
      callback: (_err, m) => {
        if (m === undefined) return;
        const jobId = m.subject.slice(CANCEL_SUBJECT_PREFIX.length + 1);
        const reason = oneLineReason(m.string() || "cancelled") || "cancelled";
        recentCancels.set(jobId, reason);
        if (recentCancels.size > RECENT_CANCELS) {
          const oldest = recentCancels.keys().next().value;
          if (oldest !== undefined) recentCancels.delete(oldest);
        }
        loop.abortWhere((task) => task.jobId === jobId, new CancelledError(`job ${jobId} cancelled: ${reason}`));
      },
    });
  }
  const unobserve = metrics.observeQueueDepth(async () => {
    const ci = await opened.jsm.consumers.info(stream, consumerName);
    return { [stage]: ci.num_pending + ci.num_ack_pending };
  });
  const stop = async () => {
    await loop.stop();
    sub?.unsubscribe();
    unobserve();
  };
  const done = loop.done.finally(() => {
    sub?.unsubscribe();
    unobserve();
  });
  done.catch(() => {});

  return {
    stage,
    workerId,
    ackWaitMs: loop.ackWaitMs,
    maxDeliver: loop.maxDeliver,
    heartbeatMs: loop.heartbeatMs,
    get inFlight() {
      return loop.inFlight;
    },
    stats: loop.stats,
    stop,
    done,
  };
}
