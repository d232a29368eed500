/**
 * The serving side every stage service shares once its stage is built: the gRPC server with the
 * service's own API (plus grpc.health.v1 and reflection), plaintext or TLS as the LONGSHOT_GRPC_TLS_*
 * settings say, the JetStream queue worker (unless the `worker` option is off), SERVING, and the
 * drain that undoes it all in order.
 */
import type { StageHandler, StageName } from "@longshot/bus";
import type { Logger } from "@longshot/core";
import {
  createGrpcServer,
  type DrainResult,
  type GrpcServer,
  grpcServerCredentials,
  grpcServerTlsMode,
  type ServerCredentials,
  type ServiceRegistration,
} from "@longshot/proto";
import type { StageKitConfig } from "./config.js";
import { type StageQueue, startStageQueue } from "./stage-queue.js";

export interface StageServerOptions {
  /** The stage kit settings (queue, worker, gRPC TLS) plus where gRPC listens. */
  config: StageKitConfig & { readonly grpcHost: string; readonly grpcPort: number };
  logger: Logger;
  /**
   * The gRPC server's credentials, when the service made them already (`grpcServerCredentials(config)`
   * before loading its models, to fail fast on bad TLS settings); default: made from `config` here.
   */
  credentials?: ServerCredentials;
  /** The service's own gRPC API (from defineService). */
  service: ServiceRegistration;
  /** The stage's queue (and consumer). */
  stage: StageName;
  /** Names the service in the "<name> service serving" log line. */
  name: string;
  workerId: string;
  /** Runs a task from the queue. */
  handle: StageHandler;
  /**
   * Frees what the stage holds (the model sessions): called by drain once the gRPC calls have ended
   * and the queue worker has stopped, before the NATS connection is drained.
   */
  release(): Promise<void>;
}

export interface StageServer {
  readonly port: number;
  readonly server: GrpcServer;
  /** The JetStream side; undefined with `--no-worker`. */
  readonly queue: StageQueue | undefined;
  /**
   * Health NOT_SERVING; the queue worker stops pulling (its task finishes or goes back to the queue
   * within stopTimeout) while running gRPC calls finish (cancelled after timeoutMs); then `release`
   * runs and the NATS connection is drained. Idempotent: later calls get the first drain's result.
   */
  drain(timeoutMs: number): Promise<DrainResult>;
}

/**
 * Serves gRPC on grpcHost:grpcPort (TLS per grpcServerCredentials), starts the queue worker (unless
 * `config.worker` is off) and reports SERVING. Bad TLS settings throw a GrpcTlsError naming the
 * variable before anything starts. When the start fails, the queue and the server are closed again
 * (not `release`: the caller still owns what it built) and the error is rethrown.
 */
export async function startStageServer(options: StageServerOptions): Promise<StageServer> {
  const { config, logger, workerId } = options;
  const tls = grpcServerTlsMode(config);
  const credentials = options.credentials ?? grpcServerCredentials(config);
  let server: GrpcServer | undefined;
  let queue: StageQueue | undefined;
  try {
    server = createGrpcServer({ services: [options.service], logger, credentials });
    const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`);
    if (config.worker) {
      queue = await startStageQueue({ config, logger, stage: options.stage, workerId, handle: options.handle });
    }
    server.setServing(true);
    logger.info({ port, tls, workerId, worker: config.worker }, `${options.name} service serving`);

    const grpc = server;
    const q = queue;
    let draining: Promise<DrainResult> | undefined;
    return {
      port,
      server: grpc,
      queue: q,
      drain(timeoutMs: number) {
        draining ??= (async () => {
          grpc.setServing(false);
          const [result] = await Promise.all([grpc.drain(timeoutMs), q?.worker.stop()]);
          await options.release();
          await q?.close();
          return result;
        })();
        return draining;
      },
    };
  } catch (err) {
    await queue?.close().catch(() => {});
    await server?.drain(0).catch(() => {});
    throw err;
  }
}
