import type { TestSpan } from "./otlp.js";

export interface RestartOptions {
  /** Signal that stops the server: SIGTERM (graceful, the default) or SIGKILL (a crash). */
  signal?: "SIGTERM" | "SIGKILL";
  /** How long the server stays down before it starts again (default 0). */
  downMs?: number;
}

/** A NATS server with JetStream enabled. */
export interface NatsHandle {
  /** `nats://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Credentials, when the server requires them (the Docker path does). */
  readonly user: string | undefined;
  readonly pass: string | undefined;
  /** Options for `connect()` from `@nats-io/transport-node`. */
  connectOptions(): { servers: string; user?: string; pass?: string };
  /** Whether the server process/container is up (as far as the harness knows). */
  readonly running: boolean;
  /** Stops the server; it keeps its port and JetStream store for `start()`. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts a stopped server again on the same port with the same JetStream store. */
  start(): Promise<void>;
  /** `stop()` then `start()`: clients with reconnect enabled see a disconnect and come back. */
  restart(opts?: RestartOptions): Promise<void>;
}

/** An S3 API endpoint; the fields match the `minio` client's options (and S3BlobStore's, less `bucket`). */
export interface S3Handle {
  readonly endPoint: string;
  readonly port: number;
  readonly useSSL: false;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** `http://host:port` */
  readonly url: string;
}

export interface WaitForSpansOptions {
  /** Resolve once at least this many spans of the trace arrived (default 1). */
  count?: number;
  /** Or once this returns true for the trace's spans. */
  until?: (spans: TestSpan[]) => boolean;
  timeoutMs?: number;
}

/** Where services send OTLP/HTTP traces, and how tests read them back. */
export interface OtlpHandle {
  /** Which backend stores spans: the harness's receiver process, or Jaeger (Docker path). */
  readonly backend: "receiver" | "jaeger";
  /** Base URL of the OTLP/HTTP endpoint (use as OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly endpoint: string;
  /** `${endpoint}/v1/traces` (use as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or the exporter's `url`). */
  readonly tracesUrl: string;
  /** The spans stored so far for a trace (hex trace id). */
  spans(traceId: string): Promise<TestSpan[]>;
  /** Polls `spans()` until the condition holds; rejects with what arrived after `timeoutMs` (default 10 s). */
  waitForSpans(traceId: string, opts?: WaitForSpansOptions): Promise<TestSpan[]>;
}

export type ServerMode = "docker" | "local";

export interface ServerOptions {
  nats?: boolean;
  s3?: boolean;
  otlp?: boolean;
  /**
   * "auto" (default): Docker via testcontainers when an engine answers, else local processes.
   * The environment variable LONGSHOT_TEST_SERVERS=docker|local|auto overrides "auto".
   */
  mode?: ServerMode | "auto";
  /** Where the one status line goes (default: stderr). */
  log?: (line: string) => void;
}

interface BaseServers extends AsyncDisposable {
  /** Which path the harness took. */
  readonly mode: ServerMode;
  /** Restarts NATS on the same port and JetStream store (throws if NATS was not requested). */
  restartNats(opts?: RestartOptions): Promise<void>;
  /** Stops every server and removes their temporary data. Idempotent. */
  stop(): Promise<void>;
}

/** What startServers() returns: the handles asked for are present (and typed as such). */
export type TestServers<O extends ServerOptions = ServerOptions> = BaseServers & {
  readonly nats: O["nats"] extends true ? NatsHandle : NatsHandle | undefined;
  readonly s3: O["s3"] extends true ? S3Handle : S3Handle | undefined;
  readonly otlp: O["otlp"] extends true ? OtlpHandle : OtlpHandle | undefined;
};

/** A started server of any kind: the harness stops it on teardown. */
export interface Stoppable {
  stop(): Promise<void>;
}
