/**
 * Task metrics: counters and histograms the bus records for every task delivery. They go through
 * the OpenTelemetry metrics API, so they cost nothing until `initTelemetry` registers a meter
 * provider (with `prometheus` set: a `/metrics` endpoint).
 *
 * The metrics API has no proxy meter: instruments created before a meter provider is registered
 * stay no-ops. Create a TaskMetrics after `initTelemetry` (runWorker does so when it starts).
 */
import { type Attributes, type Meter, metrics, type ObservableResult } from "@opentelemetry/api";
import { ATTR_LONGSHOT_STAGE, ATTR_LONGSHOT_TASK_OUTCOME } from "./semconv.js";

/** How one delivery of a task ended. */
export type TaskOutcome =
  /** Handled and acknowledged. */
  | "acked"
  /** Failed transiently; negatively acknowledged with a delay for another attempt. */
  | "retried"
  /** Failed for good (or ran out of attempts, or could not be decoded): sent to the dead-letter stream. */
  | "dead_lettered"
  /** The job was cancelled: terminated without a dead-letter record. */
  | "cancelled"
  /** The worker stopped: negatively acknowledged without delay so another replica takes it. */
  | "handed_back";

export const METER_NAME = "longshot";

/** Seconds; tasks run from milliseconds (decode of a few frames) to minutes (a keyframe pass on CPU). */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export interface TaskMetrics {
  /** A delivery started (in-flight gauge up). */
  taskStarted(stage: string): void;
  /** A delivery ended (in-flight gauge down, duration recorded with its outcome). */
  taskFinished(stage: string, outcome: TaskOutcome, seconds: number): void;
  /** A task was published to a stage's queue. */
  taskPublished(stage: string): void;
  /** A dead-letter record was written; `kind` says why (permanent, max_deliveries, malformed, advisory). */
  deadLettered(stage: string, kind: string): void;
  /**
   * Reports queue depth (messages waiting plus in flight, per stage) whenever metrics are collected.
   * `read` may be async; a failing read reports nothing for that collection. Returns an unregister function.
   */
  observeQueueDepth(read: () => Promise<Record<string, number>> | Record<string, number>): () => void;
}

/** The task instruments on `meter` (default: the global meter provider's `longshot` meter). */
export function createTaskMetrics(meter: Meter = metrics.getMeter(METER_NAME)): TaskMetrics {
  const duration = meter.createHistogram("longshot.task.duration", {
    description: "Wall time of one task delivery, from receipt to ack/nak/term",
    unit: "s",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const finished = meter.createCounter("longshot.task.deliveries", {
    description: "Task deliveries handled, by stage and outcome",
  });
  const inFlight = meter.createUpDownCounter("longshot.task.in_flight", {
    description: "Task deliveries being handled right now",
  });
  const published = meter.createCounter("longshot.task.published", { description: "Tasks published, by stage" });
  const failures = meter.createCounter("longshot.task.dead_letters", {
    description: "Dead-letter records written, by stage and kind",
  });
  const depth = meter.createObservableGauge("longshot.queue.depth", {
    description: "Tasks waiting in a stage's work queue plus those delivered but not yet acknowledged",
  });

  return {
    taskStarted(stage) {
      inFlight.add(1, { [ATTR_LONGSHOT_STAGE]: stage });
    },
    taskFinished(stage, outcome, seconds) {
      const attrs: Attributes = { [ATTR_LONGSHOT_STAGE]: stage, [ATTR_LONGSHOT_TASK_OUTCOME]: outcome };
      inFlight.add(-1, { [ATTR_LONGSHOT_STAGE]: stage });
      finished.add(1, attrs);
      duration.record(Math.max(0, seconds), attrs);
    },
    taskPublished(stage) {
      published.add(1, { [ATTR_LONGSHOT_STAGE]: stage });
    },
    deadLettered(stage, kind) {
      failures.add(1, { [ATTR_LONGSHOT_STAGE]: stage, "longshot.dead_letter.kind": kind });
    },
    observeQueueDepth(read) {
      const callback = async (result: ObservableResult): Promise<void> => {
        let values: Record<string, number>;
        try {
          values = await read();
        } catch {
          return; // NATS unreachable during this scrape: report nothing rather than a wrong zero.
        }
        for (const [stage, n] of Object.entries(values)) result.observe(n, { [ATTR_LONGSHOT_STAGE]: stage });
      };
      depth.addCallback(callback);
      return () => depth.removeCallback(callback);
    },
  };
}
