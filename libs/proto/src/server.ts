/**
 * The gRPC server every longshot service runs: its own services, grpc.health.v1, server reflection,
 * keepalive, and a drain that flips health to NOT_SERVING before shutting down.
 */
import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { ConfigError, InvalidArgumentError, LongshotError } from "@longshot/core";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { ServiceRegistration } from "./handlers.js";
import type { GrpcLogger } from "./logger.js";
import { HEALTH_SERVICE_NAME, reflectionPackageDefinition } from "./reflection.js";

/**
 * Server defaults: ping a silent client after 60 s and drop it after 20 s more (long WatchJob
 * streams notice dead peers); 4 MiB messages at most (tensors travel as blob references, never inline).
 */
export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 20_000,
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  "grpc.max_send_message_length": 4 * 1024 * 1024,
};

export interface GrpcServerOptions {
  /** The server's own services (from defineService). */
  services: readonly ServiceRegistration[];
  /**
   * Extra names reported by grpc.health.v1, besides "" (the whole server) and each service's
   * fully-qualified name, which are always reported.
   */
  healthServices?: readonly string[];
  logger: GrpcLogger;
  /** grpc-js server options, merged over DEFAULT_SERVER_OPTIONS. */
  serverOptions?: ServerOptions;
  /** Default insecure (plaintext); `grpcServerCredentials(config)` gives TLS from the LONGSHOT_GRPC_TLS_* settings. */
  credentials?: ServerCredentials;
}

export interface DrainResult {
  /** True when calls were still running at the timeout and were cancelled. */
  forced: boolean;
}

type State = "created" | "listening" | "draining" | "stopped";

export class GrpcServer {
  /** grpc.health.v1 statuses; setServing() sets every name at once. */
  readonly health: HealthImplementation;
  /** Names health reports: "" and the services' names (and healthServices). */
  readonly healthNames: readonly string[];
  /** The registered services' fully-qualified names. */
  readonly serviceNames: readonly string[];
  readonly #server: Server;
  readonly #logger: GrpcLogger;
  readonly #credentials: ServerCredentials;
  #state: State = "created";
  #port: number | undefined;
  #serving = false;
  #drain: Promise<DrainResult> | undefined;

  constructor(options: GrpcServerOptions) {
    const { services, logger } = options;
    if (services.length === 0) throw new InvalidArgumentError("services", "a server needs at least one service");
    const names = services.map((s) => s.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new InvalidArgumentError("services", `${duplicate} is registered twice`);
    this.serviceNames = names;
    this.healthNames = [...new Set(["", ...names, ...(options.healthServices ?? [])])];
    this.#logger = logger;
    this.#credentials = options.credentials ?? ServerCredentials.createInsecure();
    this.#server = new Server({ ...DEFAULT_SERVER_OPTIONS, ...options.serverOptions });
    for (const service of services) this.#server.addService(service.definition, service.handlers(logger));
    const initial: Record<string, ServingStatus> = {};
    for (const name of this.healthNames) initial[name] = "NOT_SERVING";
    this.health = new HealthImplementation(initial);
    this.health.addToServer(this.#server);
    new ReflectionService(reflectionPackageDefinition(), { services: [...names, HEALTH_SERVICE_NAME] }).addToServer(
      this.#server,
    );
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  get serving(): boolean {
    return this.#serving;
  }

  /**
   * Binds `address` ("host:port"; port 0 picks a free one) and starts serving calls. Health stays
   * NOT_SERVING until setServing(true): call it once the process is ready for work.
   */
  listen(address: string): Promise<number> {
    if (this.#state !== "created") {
      return Promise.reject(
        new LongshotError(`cannot listen: server is ${this.#state}`, { code: "FAILED_PRECONDITION" }),
      );
    }
    this.#state = "listening";
    return new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, this.#credentials, (err, port) => {
        if (err) {
          this.#state = "stopped";
          reject(new ConfigError(`cannot listen on ${address}: ${err.message}`, { cause: err }));
          return;
        }
        this.#port = port;
        this.#logger.info({ address, port, services: this.serviceNames }, "gRPC server listening");
        resolve(port);
      });
    });
  }

  /** Sets every health name to SERVING or NOT_SERVING (Watch subscribers are told at once, of changes only). */
  setServing(serving: boolean): void {
    if (serving && (this.#state === "draining" || this.#state === "stopped")) {
      throw new LongshotError(`cannot serve: server is ${this.#state}`, { code: "FAILED_PRECONDITION" });
    }
    if (this.#serving === serving) return; // watchers hear only changes
    this.#serving = serving;
    for (const name of this.healthNames) this.health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
  }

  /**
   * Health NOT_SERVING, stop accepting calls, let running calls finish; after `timeoutMs`, cancel
   * those still running. Idempotent: later calls return the first drain's result.
   */
  drain(timeoutMs: number): Promise<DrainResult> {
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return Promise.reject(new InvalidArgumentError("timeoutMs", `must be >= 0, got ${timeoutMs}`));
    }
    if (this.#drain) return this.#drain;
    this.setServing(false);
    this.#state = "draining";
    this.#logger.info({ timeoutMs }, "gRPC server draining");
    this.#drain = new Promise<DrainResult>((resolve) => {
      let forced = false;
      const finish = () => {
        clearTimeout(timer);
        this.#state = "stopped";
        this.#logger.info({ forced }, "gRPC server stopped");
        resolve({ forced });
      };
      const timer = setTimeout(() => {
        forced = true;
        this.#logger.warn({ timeoutMs }, "calls still running at the drain timeout: cancelling them");
        this.#server.forceShutdown();
        finish();
      }, timeoutMs);
      this.#server.tryShutdown((err) => {
        if (err) this.#logger.warn({ err }, "graceful shutdown reported an error");
        finish();
      });
    });
    return this.#drain;
  }
}

/** A server with health (all NOT_SERVING until setServing(true)), reflection and keepalive; call listen(). */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  return new GrpcServer(options);
}
