/**
 * `ensureTopology`: creates or reconciles longshot's JetStream resources (see names.ts):
 *
 * - LONGSHOT_TASKS  — WorkQueue retention, `longshot.tasks.>`, Msg-Id duplicate window (2 min);
 *   a message is removed once a stage acknowledges (or terminates) it.
 * - one durable pull consumer per stage (`keyframe`, `interpolation`, `decode`) filtered on its
 *   subject: explicit ack, AckWait, bounded MaxDeliver, a BackOff list for redeliveries after ack
 *   timeouts, and `max_ack_pending` bounding the tasks in flight per stage.
 * - LONGSHOT_EVENTS — Limits retention, `longshot.events.<jobId>`, configurable max age; replayed
 *   by WatchJob from any sequence.
 * - LONGSHOT_RESULTS — WorkQueue retention, `longshot.results.<stage>`, Msg-Id duplicate window (2 min):
 *   the StageResult of every finished task, read by the durable pull consumer `coordinator`
 *   (explicit ack, AckWait 30 s, bounded MaxDeliver, no BackOff: the reader naks with its own delay).
 * - LONGSHOT_DLQ    — Limits retention, `longshot.dlq.<stage>` (and `longshot.dlq.results`): dead-letter records.
 * - KV bucket `longshot-jobs` — job records (history 1..64), compare-and-set updates.
 *
 * Idempotent: a resource that exists with the wanted settings is left alone; one whose mutable
 * settings drifted is updated in place; one whose immutable settings (retention, storage) differ
 * is reported as a ConfigError rather than silently replaced (that would drop its messages).
 *
 * JetStream facts this relies on (checked against nats-server 2.9.10, the Debian server):
 * - With a BackOff list the server sets ack_wait = backoff[0], and requires max_deliver > len(backoff);
 *   so the first BackOff entry here is always the AckWait.
 * - A plain `nak()` redelivers at once even with BackOff; workers pass their own delay to `nak(ms)`.
 */
import { ConfigError, InvalidArgumentError, type Logger } from "@longshot/core";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/transport-node";
import { errorMessage, toBusError } from "./errors.js";
import {
  DLQ_STREAM,
  DLQ_SUBJECT_PREFIX,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  JOBS_BUCKET,
  RESULTS_CONSUMER,
  RESULTS_STREAM,
  RESULTS_SUBJECT_PREFIX,
  STAGES,
  type StageName,
  TASKS_STREAM,
  TASKS_SUBJECT_PREFIX,
  taskSubject,
} from "./names.js";

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
  replicas: number;
  storage: "file" | "memory";
}

export type ResourceAction = "created" | "updated" | "unchanged";

export interface TopologyReport {
  /** Per resource, e.g. `{ "stream LONGSHOT_TASKS": "created", "consumer LONGSHOT_TASKS/keyframe": "unchanged", … }`. */
  actions: Record<string, ResourceAction>;
  config: ResolvedTopology;
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
      backoffMs.push(Math.max(ackWaitMs, Math.min(ackWaitMs * 2 ** i, 10 * MINUTE)));
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
    replicas: int("replicas", cfg.replicas ?? 1, 1, 5),
    storage,
  };
}

function storageType(s: "file" | "memory"): StorageType {
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

const IMMUTABLE_STREAM_FIELDS = ["retention", "storage"] as const;
const MUTABLE_STREAM_FIELDS = [
  "description",
  "duplicate_window",
  "max_age",
  "max_msg_size",
  "max_msgs_per_subject",
  "num_replicas",
  "discard",
] as const;

function sameSet(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...(b ?? [])].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

async function ensureStream(
  jsm: JetStreamManager,
  want: Partial<StreamConfig> & { name: string; subjects: string[] },
  logger: Logger | undefined,
): Promise<ResourceAction> {
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(want.name);
  } catch (err) {
    const e = toBusError(err, `stream info ${want.name}`);
    if (e.code !== "NOT_FOUND") throw e;
  }
  if (info === undefined) {
    try {
      await jsm.streams.add(want);
    } catch (err) {
      throw toBusError(err, `create stream ${want.name}`);
    }
    logger?.info({ stream: want.name }, "topology: stream created");
    return "created";
  }
  const have = info.config;
  for (const f of IMMUTABLE_STREAM_FIELDS) {
    if (want[f] !== undefined && have[f] !== want[f]) {
      throw new ConfigError(
        `stream ${want.name} exists with ${f}=${String(have[f])} but longshot needs ${f}=${String(want[f])}; ` +
          "JetStream cannot change it in place: remove the stream (its messages are lost) and run ensureTopology again",
      );
    }
  }
  const drift: string[] = [];
  if (!sameSet(have.subjects, want.subjects)) drift.push("subjects");
  for (const f of MUTABLE_STREAM_FIELDS) {
    if (want[f] !== undefined && have[f] !== want[f]) drift.push(f);
  }
  if (drift.length === 0) return "unchanged";
  try {
    await jsm.streams.update(want.name, { ...have, ...want });
  } catch (err) {
    throw new ConfigError(`stream ${want.name}: cannot update ${drift.join(", ")}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  logger?.info({ stream: want.name, fields: drift }, "topology: stream updated");
  return "updated";
}

const MUTABLE_CONSUMER_FIELDS = ["description", "ack_wait", "max_deliver", "max_ack_pending"] as const;

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  want: Partial<ConsumerConfig> & { durable_name: string },
  logger: Logger | undefined,
): Promise<ResourceAction> {
  const name = want.durable_name;
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(stream, name);
  } catch (err) {
    const e = toBusError(err, `consumer info ${stream}/${name}`);
    if (e.code !== "NOT_FOUND") throw e;
  }
  if (info === undefined) {
    try {
      await jsm.consumers.add(stream, want);
    } catch (err) {
      throw toBusError(err, `create consumer ${stream}/${name}`);
    }
    logger?.info({ stream, consumer: name }, "topology: consumer created");
    return "created";
  }
  const have = info.config;
  if (have.ack_policy !== want.ack_policy || (have.deliver_policy ?? DeliverPolicy.All) !== want.deliver_policy) {
    throw new ConfigError(
      `consumer ${stream}/${name} exists with ack_policy=${have.ack_policy} deliver_policy=${have.deliver_policy}; ` +
        `longshot needs ${want.ack_policy}/${want.deliver_policy}: delete the consumer and run ensureTopology again`,
    );
  }
  const drift: string[] = [];
  if ((have.filter_subject ?? "") !== want.filter_subject) drift.push("filter_subject");
  for (const f of MUTABLE_CONSUMER_FIELDS) if (have[f] !== want[f]) drift.push(f);
  const haveBackoff = have.backoff ?? [];
  const wantBackoff = want.backoff ?? [];
  if (haveBackoff.length !== wantBackoff.length || haveBackoff.some((v, i) => v !== wantBackoff[i])) {
    drift.push("backoff");
  }
  if (drift.length === 0) return "unchanged";
  try {
    const { durable_name: _name, ack_policy: _a, deliver_policy: _d, replay_policy: _r, ...update } = want;
    await jsm.consumers.update(stream, name, { ...update, backoff: wantBackoff });
  } catch (err) {
    throw new ConfigError(`consumer ${stream}/${name}: cannot update ${drift.join(", ")}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  logger?.info({ stream, consumer: name, fields: drift }, "topology: consumer updated");
  return "updated";
}

async function ensureJobsBucket(
  js: JetStreamClient,
  jsm: JetStreamManager,
  t: ResolvedTopology,
  logger: Logger | undefined,
): Promise<ResourceAction> {
  const streamName = `KV_${JOBS_BUCKET}`;
  let existed = true;
  try {
    await jsm.streams.info(streamName);
  } catch (err) {
    const e = toBusError(err, `stream info ${streamName}`);
    if (e.code !== "NOT_FOUND") throw e;
    existed = false;
  }
  try {
    await new Kvm(js).create(JOBS_BUCKET, {
      history: t.jobsHistory,
      ttl: t.jobsTtlMs,
      storage: storageType(t.storage),
      replicas: t.replicas,
      description: "longshot job records",
    });
  } catch (err) {
    throw toBusError(err, `create KV bucket ${JOBS_BUCKET}`);
  }
  if (!existed) {
    logger?.info({ bucket: JOBS_BUCKET }, "topology: KV bucket created");
    return "created";
  }
  // Kvm.create() returns an existing bucket as it is: reconcile its stream's limits here.
  return ensureStream(
    jsm,
    {
      name: streamName,
      subjects: [`$KV.${JOBS_BUCKET}.>`],
      max_msgs_per_subject: t.jobsHistory,
      max_age: nanos(t.jobsTtlMs),
      num_replicas: t.replicas,
    },
    logger,
  );
}

/**
 * Creates or reconciles every stream, consumer and KV bucket longshot uses (see the module
 * comment). Safe to run from every process at start-up and concurrently.
 */
export async function ensureTopology(js: JetStreamClient, cfg: TopologyConfig = {}): Promise<TopologyReport> {
  const t = resolveTopology(cfg);
  const logger = cfg.logger;
  let jsm: JetStreamManager;
  try {
    jsm = await js.jetstreamManager();
  } catch (err) {
    throw toBusError(err, "ensureTopology");
  }
  const actions: Record<string, ResourceAction> = {};
  for (const sc of streamConfigs(t)) {
    actions[`stream ${sc.name}`] = await retryCreateRace(() => ensureStream(jsm, sc, logger));
  }
  for (const stage of STAGES) {
    actions[`consumer ${TASKS_STREAM}/${stage}`] = await retryCreateRace(() =>
      ensureConsumer(jsm, TASKS_STREAM, consumerConfig(t, stage), logger),
    );
  }
  actions[`consumer ${RESULTS_STREAM}/${RESULTS_CONSUMER}`] = await retryCreateRace(() =>
    ensureConsumer(jsm, RESULTS_STREAM, resultsConsumerConfig(t), logger),
  );
  actions[`kv ${JOBS_BUCKET}`] = await retryCreateRace(() => ensureJobsBucket(js, jsm, t, logger));
  return { actions, config: t };
}

/**
 * Two processes running ensureTopology at once can both see "missing" and race on create; the
 * loser's create fails with "already in use". One more pass then finds the resource and compares it.
 */
async function retryCreateRace(fn: () => Promise<ResourceAction>): Promise<ResourceAction> {
  try {
    return await fn();
  } catch (err) {
    if (/already in use|already exists/i.test(errorMessage(err))) return await fn();
    throw err;
  }
}
