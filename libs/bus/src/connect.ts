/**
 * `connectBus`: one NATS connection per process with JetStream handles, reconnecting forever, and
 * connection state changes (disconnect, reconnect, server errors, slow consumers) in the log.
 */
import { readFileSync } from "node:fs";
import {
  ConfigError,
  type ConfigValues,
  defineConfig,
  InvalidArgumentError,
  type Logger,
  UnavailableError,
} from "@longshot/core";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { errorMessage, toBusError } from "./errors.js";

/** Config fields for the NATS connection; spread them into a service schema: `defineConfig({ ...busConfig, … })`. */
export const busConfig = defineConfig({
  natsUrl: {
    type: "string",
    env: "LONGSHOT_NATS_URL",
    flag: "nats-url",
    default: "nats://127.0.0.1:4222",
    description: "NATS server URL(s), comma-separated (nats://host:4222, tls://host:4222)",
    validate: (v) => {
      for (const u of splitServers(v))
        if (!/^(nats|tls|ws|wss):\/\/./.test(u) && !/^[\w.-]+:\d+$/.test(u)) {
          return `has ${JSON.stringify(u)}, expected nats://host:port or tls://host:port`;
        }
      return splitServers(v).length === 0 ? "lists no server" : undefined;
    },
  },
  natsUser: {
    type: "string",
    env: "LONGSHOT_NATS_USER",
    flag: "nats-user",
    description: "NATS user (with natsPassword)",
  },
  natsPassword: {
    type: "string",
    env: "LONGSHOT_NATS_PASSWORD",
    flag: "nats-password",
    secret: true,
    description: "NATS password",
  },
  natsToken: {
    type: "string",
    env: "LONGSHOT_NATS_TOKEN",
    flag: "nats-token",
    secret: true,
    description: "NATS token",
  },
  natsCredsFile: {
    type: "string",
    env: "LONGSHOT_NATS_CREDS",
    flag: "nats-creds",
    description: "NATS credentials file (JWT + NKey seed, as written by nsc)",
  },
  natsNkeySeedFile: {
    type: "string",
    env: "LONGSHOT_NATS_NKEY_SEED_FILE",
    flag: "nats-nkey-seed-file",
    description: "File holding this service's NKey seed (SU...)",
  },
  natsTlsCa: {
    type: "string",
    env: "LONGSHOT_NATS_TLS_CA",
    flag: "nats-tls-ca",
    description: "CA bundle that signs the NATS server certificate",
  },
  natsTlsCert: {
    type: "string",
    env: "LONGSHOT_NATS_TLS_CERT",
    flag: "nats-tls-cert",
    description: "Client certificate (mutual TLS)",
  },
  natsTlsKey: {
    type: "string",
    env: "LONGSHOT_NATS_TLS_KEY",
    flag: "nats-tls-key",
    description: "Client private key (mutual TLS)",
  },
});

export type BusConfigValues = ConfigValues<typeof busConfig>;

export interface BusTlsOptions {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** The server is configured with `handshake_first`. */
  handshakeFirst?: boolean;
}

export interface BusOptions {
  /** `nats://host:4222`, a list of them, or a comma-separated string. */
  servers: string | string[];
  /** Connection name shown by the server (`nats server report connections`), e.g. "keyframe-1". */
  name: string;
  /** At most one of: user + pass, token, nkeySeed / nkeySeedFile, credsFile. */
  user?: string;
  pass?: string;
  token?: string;
  /** NKey seed text (`SU…`). */
  nkeySeed?: string;
  nkeySeedFile?: string;
  credsFile?: string;
  /** TLS: `true` for the system CAs, or files. */
  tls?: boolean | BusTlsOptions;
  logger?: Logger;
  /** Keep trying when no server answers at start-up, instead of failing with UnavailableError. Default false. */
  waitOnFirstConnect?: boolean;
  /** Connection timeout of each attempt (default 5 s). */
  timeoutMs?: number;
  /** Pause between reconnect attempts to the same server (default 1 s, with jitter). */
  reconnectTimeWaitMs?: number;
  /** Timeout of JetStream API calls and publish acks (default 5 s). */
  jetstreamTimeoutMs?: number;
}

export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Version of the server connected to first, e.g. "2.9.10". */
  readonly serverVersion: string;
  /** Flushes pending messages and closes. Idempotent. */
  drain(): Promise<void>;
  /** Closes at once. Idempotent. */
  close(): Promise<void>;
  /** Resolves when the connection is closed for good (with the error that closed it, if any). */
  closed(): Promise<Error | undefined>;
}

/** Options for `connectBus` from loaded `busConfig` values. */
export function busOptionsFromConfig(values: BusConfigValues, name: string, logger?: Logger): BusOptions {
  const tls =
    values.natsTlsCa !== undefined || values.natsTlsCert !== undefined || values.natsTlsKey !== undefined
      ? { caFile: values.natsTlsCa, certFile: values.natsTlsCert, keyFile: values.natsTlsKey }
      : undefined;
  return {
    servers: values.natsUrl,
    name,
    user: values.natsUser,
    pass: values.natsPassword,
    token: values.natsToken,
    credsFile: values.natsCredsFile,
    nkeySeedFile: values.natsNkeySeedFile,
    tls,
    logger,
  };
}

function splitServers(s: string | string[]): string[] {
  const list = Array.isArray(s) ? s : s.split(",");
  return list.map((x) => x.trim()).filter((x) => x !== "");
}

function readSecretFile(field: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The connect() options for `opts`, with every auth and TLS field checked. */
export function natsConnectOptions(opts: BusOptions): NodeConnectionOptions {
  const servers = splitServers(opts.servers);
  if (servers.length === 0) throw new InvalidArgumentError("servers", "lists no NATS server");
  if (typeof opts.name !== "string" || opts.name.trim() === "") {
    throw new InvalidArgumentError("name", "must be a non-empty connection name");
  }
  const methods = [
    opts.user !== undefined || opts.pass !== undefined ? "user/pass" : undefined,
    opts.token !== undefined ? "token" : undefined,
    opts.nkeySeed !== undefined || opts.nkeySeedFile !== undefined ? "nkey" : undefined,
    opts.credsFile !== undefined ? "creds" : undefined,
  ].filter((m) => m !== undefined);
  if (methods.length > 1) {
    throw new InvalidArgumentError("auth", `give one way to authenticate, got ${methods.join(" and ")}`);
  }
  if ((opts.user === undefined) !== (opts.pass === undefined)) {
    throw new InvalidArgumentError(opts.user === undefined ? "user" : "pass", "user and pass go together");
  }
  if (opts.nkeySeed !== undefined && opts.nkeySeedFile !== undefined) {
    throw new InvalidArgumentError("nkeySeed", "give nkeySeed or nkeySeedFile, not both");
  }
  const timeout = opts.timeoutMs ?? 5000;
  if (!Number.isInteger(timeout) || timeout < 100)
    throw new InvalidArgumentError("timeoutMs", "must be an integer >= 100");

  let authenticator: Authenticator | undefined;
  if (opts.credsFile !== undefined) {
    authenticator = credsAuthenticator(readSecretFile("credsFile", opts.credsFile));
  } else if (opts.nkeySeed !== undefined || opts.nkeySeedFile !== undefined) {
    const seed =
      opts.nkeySeed !== undefined
        ? new TextEncoder().encode(opts.nkeySeed.trim())
        : new TextEncoder().encode(
            new TextDecoder().decode(readSecretFile("nkeySeedFile", opts.nkeySeedFile as string)).trim(),
          );
    if (!/^S[A-Z2-7]{10,}$/.test(new TextDecoder().decode(seed))) {
      throw new InvalidArgumentError("nkeySeed", "is not an NKey seed (expected text starting with S, e.g. SU…)");
    }
    authenticator = nkeyAuthenticator(seed);
  }

  let tls: NodeConnectionOptions["tls"];
  if (opts.tls === true) tls = {};
  else if (typeof opts.tls === "object") {
    if ((opts.tls.certFile === undefined) !== (opts.tls.keyFile === undefined)) {
      throw new InvalidArgumentError("tls", "certFile and keyFile go together (mutual TLS)");
    }
    tls = {
      ...(opts.tls.caFile === undefined ? {} : { caFile: opts.tls.caFile }),
      ...(opts.tls.certFile === undefined ? {} : { certFile: opts.tls.certFile }),
      ...(opts.tls.keyFile === undefined ? {} : { keyFile: opts.tls.keyFile }),
      ...(opts.tls.handshakeFirst ? { handshakeFirst: true } : {}),
    };
  }

  return {
    servers,
    name: opts.name,
    ...(opts.user === undefined ? {} : { user: opts.user, pass: opts.pass }),
    ...(opts.token === undefined ? {} : { token: opts.token }),
    ...(authenticator === undefined ? {} : { authenticator }),
    ...(tls === undefined ? {} : { tls }),
    timeout,
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 1000,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
    pingInterval: 20_000,
    maxPingOut: 3,
  };
}

/**
 * Connects to NATS with JetStream: reconnects forever (messages published while disconnected are
 * buffered by nats.js), logs every connection state change, and fails with UnavailableError when
 * no server answers at start-up (unless `waitOnFirstConnect`), or ConfigError when the server
 * rejects the credentials or has no JetStream.
 */
export async function connectBus(opts: BusOptions): Promise<Bus> {
  const options = natsConnectOptions(opts);
  const logger = opts.logger?.child({ component: "nats", connection: opts.name });
  const where = (options.servers as string[]).join(",");
  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (err) {
    const e = toBusError(err, `connect to NATS at ${where}`);
    if (e.code !== "INTERNAL") throw e;
    // Socket-level failures (refused, unknown host, timeout) arrive as plain errors.
    throw /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|EAI_AGAIN|timeout/i.test(errorMessage(err))
      ? new UnavailableError(`connect to NATS at ${where}: no server answered (${errorMessage(err)})`, { cause: err })
      : e;
  }
  const serverVersion = nc.info?.version ?? "unknown";
  logger?.info({ server: nc.getServer(), serverVersion }, "nats: connected");

  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          logger?.warn({ server: s.server }, "nats: disconnected; reconnecting");
          break;
        case "reconnect":
          logger?.info({ server: s.server }, "nats: reconnected");
          break;
        case "reconnecting":
          logger?.debug("nats: trying to reconnect");
          break;
        case "error":
          logger?.error({ err: s.error }, "nats: server error");
          break;
        case "ldm":
          logger?.warn({ server: s.server }, "nats: server entering lame duck mode");
          break;
        case "staleConnection":
          logger?.warn("nats: connection stale (pings unanswered)");
          break;
        case "slowConsumer":
          logger?.warn({ subject: s.sub.getSubject(), pending: s.pending }, "nats: slow consumer");
          break;
        default:
          break;
      }
    }
  })().catch(() => {});

  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const timeout = opts.jetstreamTimeoutMs ?? 5000;
  try {
    jsm = await jetstreamManager(nc, { timeout });
    js = jetstream(nc, { timeout });
  } catch (err) {
    await nc.close().catch(() => {});
    throw toBusError(err, `JetStream on ${where}`);
  }

  let closing: Promise<void> | undefined;
  return {
    nc,
    js,
    jsm,
    serverVersion,
    drain() {
      closing ??= nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close());
      return closing;
    },
    close() {
      closing ??= nc.close();
      return closing;
    },
    closed: () => nc.closed().then((e) => (e instanceof Error ? e : undefined)),
  };
}

/** Whether the server understands `term(reason)` (`+TERM <reason>`): 2.10.0 and later. Older servers ignore a reasoned TERM entirely. */
export function supportsTermReason(serverVersion: string | undefined): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(serverVersion ?? "");
  if (m === null) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 2 || (maj === 2 && min >= 10);
}
