/** The JetStream side of a stage service: connection, topology, job store and the stage worker. */
import {
  type Bus,
  busOptionsFromConfig,
  connectBus,
  ensureTopology,
  JobStore,
  runStageWorker,
  type StageHandler,
  type StageName,
  type Worker,
} from "@longshot/bus";
import { type Logger, LongshotError, UnavailableError } from "@longshot/core";
import type { StageKitConfig } from "./config.js";

/** What a stage handler gets besides the task (from the queue worker or a gRPC call). */
export interface StageRunContext {
  signal?: AbortSignal | undefined;
  /** `step` of `total` steps (decode: frames) done. */
  progress?: ((step: number, total: number) => void) | undefined;
  logger: Logger;
}

/** A task planned for another pack than this process runs (FAILED_PRECONDITION). */
export class PackMismatchError extends LongshotError {
  constructor(message: string) {
    super(message, { code: "FAILED_PRECONDITION" });
    this.name = "PackMismatchError";
  }
}

export interface StageQueue {
  readonly bus: Bus;
  readonly worker: Worker;
  /** Stops pulling (the task in flight finishes or is handed back within stopTimeout), then closes NATS. */
  close(): Promise<void>;
}

/**
 * Connects to NATS, creates or reconciles the topology, and starts pulling the stage's queue with
 * `handle`. A task planned for another pack goes back to the queue for a replica that has it
 * (UNAVAILABLE, retried until MaxDeliver). When the start fails, the connection is closed.
 */
export async function startStageQueue(options: {
  config: StageKitConfig;
  logger: Logger;
  stage: StageName;
  workerId: string;
  handle: StageHandler;
}): Promise<StageQueue> {
  const { config, logger, stage, workerId, handle } = options;
  const bus = await connectBus(busOptionsFromConfig(config, `${stage}:${workerId}`, logger));
  try {
    await ensureTopology(bus.js, { ackWaitMs: config.ackWait, maxDeliver: config.maxDeliver, logger });
    const jobs = await JobStore.open(bus.js, { logger });
    const worker = await runStageWorker({
      js: bus.js,
      nc: bus.nc,
      consumer: stage,
      stage,
      jobs,
      concurrency: config.workerConcurrency,
      stopTimeoutMs: config.stopTimeout,
      // Idle pulls end every 2 s: a stop (SIGTERM) of an idle worker takes at most that long.
      pullExpiresMs: 2000,
      workerId,
      logger,
      handle: async (task, ctx) => {
        try {
          return await handle(task, ctx);
        } catch (err) {
          if (err instanceof PackMismatchError) {
            throw new UnavailableError(`${err.message}; handing it back for a replica that runs that pack`, {
              cause: err,
            });
          }
          throw err;
        }
      },
    });
    logger.info({ stage, concurrency: config.workerConcurrency, ackWaitMs: worker.ackWaitMs }, "pulling tasks");
    return {
      bus,
      worker,
      async close() {
        await worker.stop();
        await bus.drain();
      },
    };
  } catch (err) {
    await bus.close();
    throw err;
  }
}
