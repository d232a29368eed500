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
 * - LONGSHOT_DLQ    — Limits retention, `longshot.dlq.<stage>` (and `longshot.dlq.results`): dead-letter
 *   records, read by the durable pull consumer `gateway` (explicit ack, no MaxDeliver: its reader
 *   gives up on its own).
 * - KV bucket `longshot-jobs` — job records (history 1..64), compare-and-set updates.
 * - KV bucket `longshot-runs` — the gateway's run records and admission slots (history 1, TTL 7 days,
 *   reads from the stream leader).
 *
 * Settings and their defaults are in topology-config.ts.
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
import { ConfigError, type Logger } from "@longshot/core";
import {
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/transport-node";
import { errorMessage, toBusError } from "./errors.js";
import { DLQ_STREAM, RESULTS_CONSUMER, RESULTS_STREAM, STAGES, TASKS_STREAM } from "./names.js";
import {
  consumerConfig,
  dlqConsumerConfig,
  jobsBucketConfig,
  type KvBucketConfig,
  type ResolvedTopology,
  resolveTopology,
  resultsConsumerConfig,
  runsBucketConfig,
  storageType,
  streamConfigs,
  type TopologyConfig,
} from "./topology-config.js";

export type ResourceAction = "created" | "updated" | "unchanged";

export interface TopologyReport {
  /** Per resource, e.g. `{ "stream LONGSHOT_TASKS": "created", "consumer LONGSHOT_TASKS/keyframe": "unchanged", … }`. */
  actions: Record<string, ResourceAction>;
  config: ResolvedTopology;
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

function kvCreateOptions(c: KvBucketConfig) {
  return {
    history: c.history,
    ttl: c.ttlMs,
    storage: storageType(c.storage),
    replicas: c.replicas,
    description: c.description,
    ...(c.allowDirect === undefined ? {} : { allow_direct: c.allowDirect }),
  };
}

async function ensureKvBucket(
  js: JetStreamClient,
  jsm: JetStreamManager,
  c: KvBucketConfig,
  logger: Logger | undefined,
): Promise<ResourceAction> {
  const streamName = `KV_${c.bucket}`;
  let existed = true;
  try {
    await jsm.streams.info(streamName);
  } catch (err) {
    const e = toBusError(err, `stream info ${streamName}`);
    if (e.code !== "NOT_FOUND") throw e;
    existed = false;
  }
  try {
    await new Kvm(js).create(c.bucket, kvCreateOptions(c));
  } catch (err) {
    throw toBusError(err, `create KV bucket ${c.bucket}`);
  }
  if (!existed) {
    logger?.info({ bucket: c.bucket }, "topology: KV bucket created");
    return "created";
  }
  // Kvm.create() returns an existing bucket as it is: reconcile its stream's limits here.
  return ensureStream(
    jsm,
    {
      name: streamName,
      subjects: [`$KV.${c.bucket}.>`],
      max_msgs_per_subject: c.history,
      max_age: nanos(c.ttlMs),
      num_replicas: c.replicas,
    },
    logger,
  );
}

/**
 * Creates the bucket of the gateway's run records (`longshot-runs`, or `bucket` for tests) when it is
 * missing, with its settings (ensureTopology makes the same), and opens it.
 */
export async function openRunsBucket(
  js: JetStreamClient,
  options: Pick<TopologyConfig, "runsTtlMs" | "replicas" | "storage"> & { bucket?: string } = {},
): Promise<KV> {
  const c = { ...runsBucketConfig(resolveTopology(options)), ...(options.bucket ? { bucket: options.bucket } : {}) };
  try {
    return await new Kvm(js).create(c.bucket, kvCreateOptions(c));
  } catch (err) {
    if (/already in use|already exists/i.test(errorMessage(err))) return await new Kvm(js).open(c.bucket);
    throw toBusError(err, `open KV bucket ${c.bucket}`);
  }
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
  const dlq = dlqConsumerConfig(t);
  actions[`consumer ${DLQ_STREAM}/${dlq.durable_name}`] = await retryCreateRace(() =>
    ensureConsumer(jsm, DLQ_STREAM, dlq, logger),
  );
  for (const kv of [jobsBucketConfig(t), runsBucketConfig(t)]) {
    actions[`kv ${kv.bucket}`] = await retryCreateRace(() => ensureKvBucket(js, jsm, kv, logger));
  }
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
