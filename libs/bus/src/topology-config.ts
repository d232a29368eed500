/**
 * The settings of longshot's JetStream resources (names.ts names them; topology.ts creates them):
 * `TopologyConfig` with its defaults and checks, and the stream, consumer and KV bucket
 * configurations derived from it.
 */

import type { Logger } from "@longshot/core";
import { InvalidArgumentError } from "@longshot/core";
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import {
  DLQ_CONSUMER,
  DLQ_STREAM,
  DLQ_SUBJECT_PREFIX,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  JOBS_BUCKET,
  RESULTS_CONSUMER,
  RESULTS_STREAM,
  RESULTS_SUBJECT_PREFIX,
  RUNS_BUCKET,
  STAGES,
  type StageName,
  TASKS_STREAM,
  TASKS_SUBJECT_PREFIX,
  taskSubject,
} from "./names.js";
import { retryDelay } from "./retry.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface TopologyConfig {
  /** AckWait of the stage consumers: a delivery not acked, nacked or extended with `working()` in this time is redelivered. Default 30 s. */
  ackWaitMs?: number;
  /** Deliveries of one task before it is given up (dead-lettered). Default 5. */
  maxDeliver?: number;
  /**
   * Ack timeouts of successive deliveries (redelivery delays after a worker died or hung). The first
   * entry must equal `ackWaitMs` (JetStream makes it the AckWait); at most `maxDeliver - 1` entries.
   * Default: ackWait, 2×ackWait, 4×ackWait, … (at most maxDeliver - 1 entries, each at most 10 min).
   * An empty list turns BackOff off.
   */
  backoffMs?: number[];
  /** Tasks delivered but not yet acknowledged, per stage consumer (all replicas together). Default 64. */
  maxAckPending?: number | Partial<Record<StageName, number>>;
  /** AckWait of the results consumer `coordinator`. Default 30 s. */
  resultsAckWaitMs?: number;
  /** Deliveries of one result before it is given up (dead-lettered). Default: maxDeliver. */
  resultsMaxDeliver?: number;
  /** Results delivered to the coordinator but not yet acknowledged (all gateway replicas together). Default 256. */
  resultsMaxAckPending?: number;
  /** Msg-Id de-duplication window of the task, result and event streams. Default 2 min. */
  duplicateWindowMs?: number;
  /** Largest task message the TASKS stream stores. Default 1 MiB. */
  maxTaskBytes?: number;
  /** How long a task may wait in its queue before JetStream drops it. Default 7 days. */
  tasksMaxAgeMs?: number;
  /** How long job events are kept (WatchJob can replay them). Default 7 days. */
  eventsMaxAgeMs?: number;
  /** Most events kept per job. Default 100 000. */
  eventsMaxPerJob?: number;
  /** How long dead-letter records are kept. Default 30 days. */
  dlqMaxAgeMs?: number;
  /** Revisions kept per job key, 1..64. Default 5. */
  jobsHistory?: number;
  /** How long job records live after their last write (0 = forever). Default 0. */
  jobsTtlMs?: number;
  /** How long the gateway's run records and slots live after their last write. Default 7 days. */
  runsTtlMs?: number;
  /** Stream replicas (1 for a single server, 3 for a cluster). Default 1. */
  replicas?: number;
  /** "file" (default) or "memory". */
  storage?: "file" | "memory";
  logger?: Logger;
}

/** TopologyConfig with every default applied and checked. */
export interface ResolvedTopology {
  ackWaitMs: number;
  maxDeliver: number;
  backoffMs: number[];
  maxAckPending: Record<StageName, number>;
  resultsAckWaitMs: number;
  resultsMaxDeliver: number;
  resultsMaxAckPending: number;
  duplicateWindowMs: number;
  maxTaskBytes: number;
  tasksMaxAgeMs: number;
  eventsMaxAgeMs: number;
  eventsMaxPerJob: number;
  dlqMaxAgeMs: number;
  jobsHistory: number;
  jobsTtlMs: number;
  runsTtlMs: number;
  replicas: number;
  storage: "file" | "memory";
}

function int(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/** Applies defaults and checks every field; throws InvalidArgumentError naming the bad one. */
export function resolveTopology(cfg: TopologyConfig = {}): ResolvedTopology {
  const ackWaitMs = int("ackWaitMs", cfg.ackWaitMs ?? 30_000, 1000, DAY);
  const maxDeliver = int("maxDeliver", cfg.maxDeliver ?? 5, 1, 100);
  let backoffMs: number[];
  if (cfg.backoffMs === undefined) {
    backoffMs = [];
    for (let i = 0; i < Math.min(maxDeliver - 1, 6); i++) {
      // The one back-off (retry.ts) without jitter: the server needs the same list from every process.
      backoffMs.push(Math.max(ackWaitMs, retryDelay(i + 1, { firstMs: ackWaitMs, maxMs: 10 * MINUTE, jitter: 0 })));
    }
  } else {
    if (!Array.isArray(cfg.backoffMs)) throw new InvalidArgumentError("backoffMs", "must be an array of milliseconds");
    backoffMs = cfg.backoffMs.map((v, i) => int(`backoffMs[${i}]`, v, 1000, DAY));
    if (backoffMs.length > 0 && backoffMs[0] !== ackWaitMs) {
      throw new InvalidArgumentError(
        "backoffMs",
        `the first entry (${backoffMs[0]} ms) must equal ackWaitMs (${ackWaitMs} ms): JetStream uses it as the AckWait`,
      );
    }
    if (backoffMs.length >= maxDeliver) {
      throw new InvalidArgumentError(
        "backoffMs",
        `has ${backoffMs.length} entries; JetStream allows at most maxDeliver - 1 = ${maxDeliver - 1}`,
      );
    }
  }
  const mapDefault = 64;
  const maxAckPending = {} as Record<StageName, number>;
  for (const stage of STAGES) {
    const v = typeof cfg.maxAckPending === "number" ? cfg.maxAckPending : cfg.maxAckPending?.[stage];
    maxAckPending[stage] = int(`maxAckPending.${stage}`, v ?? mapDefault, 1, 1_000_000);
  }
  if (cfg.maxAckPending !== undefined && typeof cfg.maxAckPending === "object") {
    for (const k of Object.keys(cfg.maxAckPending)) {
      if (!(STAGES as readonly string[]).includes(k)) {
        throw new InvalidArgumentError(
          "maxAckPending",
          `unknown stage ${JSON.stringify(k)} (expected ${STAGES.join(", ")})`,
        );
      }
    }
  }
  const storage = cfg.storage ?? "file";
  if (storage !== "file" && storage !== "memory") {
    throw new InvalidArgumentError("storage", `must be "file" or "memory", got ${JSON.stringify(storage)}`);
  }
  return {
    ackWaitMs,
    maxDeliver,
    backoffMs,
    maxAckPending,
    resultsAckWaitMs: int("resultsAckWaitMs", cfg.resultsAckWaitMs ?? 30_000, 1000, DAY),
    resultsMaxDeliver: int("resultsMaxDeliver", cfg.resultsMaxDeliver ?? maxDeliver, 1, 100),
    resultsMaxAckPending: int("resultsMaxAckPending", cfg.resultsMaxAckPending ?? 256, 1, 1_000_000),
    duplicateWindowMs: int("duplicateWindowMs", cfg.duplicateWindowMs ?? 2 * MINUTE, 1000, DAY),
    maxTaskBytes: int("maxTaskBytes", cfg.maxTaskBytes ?? 1024 * 1024, 1024, 64 * 1024 * 1024),
    tasksMaxAgeMs: int("tasksMaxAgeMs", cfg.tasksMaxAgeMs ?? 7 * DAY, 0, 3650 * DAY),
    eventsMaxAgeMs: int("eventsMaxAgeMs", cfg.eventsMaxAgeMs ?? 7 * DAY, 0, 3650 * DAY),
    eventsMaxPerJob: int("eventsMaxPerJob", cfg.eventsMaxPerJob ?? 100_000, 1, 100_000_000),
    dlqMaxAgeMs: int("dlqMaxAgeMs", cfg.dlqMaxAgeMs ?? 30 * DAY, 0, 3650 * DAY),
    jobsHistory: int("jobsHistory", cfg.jobsHistory ?? 5, 1, 64),
    jobsTtlMs: int("jobsTtlMs", cfg.jobsTtlMs ?? 0, 0, 3650 * DAY),
    runsTtlMs: int("runsTtlMs", cfg.runsTtlMs ?? 7 * DAY, 1000, 3650 * DAY),
    replicas: int("replicas", cfg.replicas ?? 1, 1, 5),
    storage,
  };
}

export function storageType(s: "file" | "memory"): StorageType {
  return s === "memory" ? StorageType.Memory : StorageType.File;
}

/** Stream settings longshot needs (the fields it compares against an existing stream). */
export function streamConfigs(
  t: ResolvedTopology,
): Array<Partial<StreamConfig> & { name: string; subjects: string[] }> {
  const common = { storage: storageType(t.storage), num_replicas: t.replicas, discard: DiscardPolicy.Old };
  return [
    {
      ...common,
      name: TASKS_STREAM,
      description: "longshot stage tasks (work queue)",
      subjects: [`${TASKS_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(t.duplicateWindowMs),
      max_age: nanos(t.tasksMaxAgeMs),
      max_msg_size: t.maxTaskBytes,
    },
    {
      ...common,
      name: RESULTS_STREAM,
      description: "longshot stage results (work queue, read by the coordinator)",
      subjects: [`${RESULTS_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(t.duplicateWindowMs),
      max_age: nanos(t.tasksMaxAgeMs),
      max_msg_size: t.maxTaskBytes,
    },
    {
      ...common,
      name: EVENTS_STREAM,
      description: "longshot job events, one subject per job",
      subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(t.duplicateWindowMs),
      max_age: nanos(t.eventsMaxAgeMs),
      max_msgs_per_subject: t.eventsMaxPerJob,
    },
    {
      ...common,
      name: DLQ_STREAM,
      description: "longshot dead-letter records",
      subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(t.duplicateWindowMs),
      max_age: nanos(t.dlqMaxAgeMs),
    },
  ];
}

/** The durable pull consumer of a stage. */
export function consumerConfig(
  t: ResolvedTopology,
  stage: StageName,
): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: stage,
    description: `longshot ${stage} workers`,
    filter_subject: taskSubject(stage),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(t.ackWaitMs),
    max_deliver: t.maxDeliver,
    max_ack_pending: t.maxAckPending[stage],
    ...(t.backoffMs.length > 0 ? { backoff: t.backoffMs.map((ms) => nanos(ms)) } : {}),
  };
}

/** The durable pull consumer `coordinator` that reads every stage's results. */
export function resultsConsumerConfig(t: ResolvedTopology): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: RESULTS_CONSUMER,
    description: "longshot coordinator (stage results)",
    filter_subject: `${RESULTS_SUBJECT_PREFIX}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(t.resultsAckWaitMs),
    max_deliver: t.resultsMaxDeliver,
    max_ack_pending: t.resultsMaxAckPending,
  };
}

/** The durable pull consumer `gateway` that reads every dead letter (the coordinator fails their jobs). */
export function dlqConsumerConfig(t: ResolvedTopology): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: DLQ_CONSUMER,
    description: "longshot gateway: fails jobs whose tasks were dead-lettered",
    filter_subject: `${DLQ_SUBJECT_PREFIX}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(t.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: 64,
  };
}

/** A KV bucket longshot keeps: its name, settings and whether reads may go to any replica. */
export interface KvBucketConfig {
  bucket: string;
  description: string;
  history: number;
  ttlMs: number;
  replicas: number;
  storage: "file" | "memory";
  /** false: every read goes to the stream leader, so a writer reads its own writes. */
  allowDirect?: boolean;
}

/** The bucket `longshot-jobs` (job records, idempotency keys). */
export function jobsBucketConfig(t: ResolvedTopology): KvBucketConfig {
  return {
    bucket: JOBS_BUCKET,
    description: "longshot job records",
    history: t.jobsHistory,
    ttlMs: t.jobsTtlMs,
    replicas: t.replicas,
    storage: t.storage,
  };
}

/** The bucket `longshot-runs` (the gateway's run records and admission slots). */
export function runsBucketConfig(t: ResolvedTopology): KvBucketConfig {
  return {
    bucket: RUNS_BUCKET,
    description: "longshot gateway run records and admission slots",
    history: 1,
    ttlMs: t.runsTtlMs,
    replicas: t.replicas,
    storage: t.storage,
    allowDirect: false,
  };
}
