/**
 * Entry point of the interpolation service: `node dist/main.js [--flags]` (see --help).
 * Loads the configuration, prints it without secrets, sets up telemetry, starts serving and pulling
 * interpolation window tasks, and on SIGTERM/SIGINT drains: health NOT_SERVING, the queue worker stops pulling
 * (the task in flight finishes or is handed back within --stop-timeout), running gRPC calls finish
 * (cancelled after --drain-timeout), sessions freed, NATS drained, exit 0. A second signal exits at
 * once with code 1; losing the NATS connection for good exits 1.
 */
import { configHelp, createLogger, describeConfig, type Logger, loadConfig } from "@longshot/core";
import { initTelemetry, traceLogMixin } from "@longshot/telemetry";
import { interpolationConfigSchema } from "./config.js";
import { startInterpolationService } from "./server.js";

const SERVICE = "interpolation";
let logger: Logger | undefined;

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`Usage: ${SERVICE}-service [flags]\n\n${configHelp(interpolationConfigSchema)}\n`);
    return;
  }
  const config = loadConfig(interpolationConfigSchema);
  const log = createLogger(SERVICE, config.logLevel, { format: config.logFormat, mixin: traceLogMixin });
  logger = log;
  log.info(`configuration:\n${describeConfig(interpolationConfigSchema, config)}`);
  const telemetry = await initTelemetry({
    serviceName: SERVICE,
    otlpEndpoint: config.otlpEndpoint,
    sampleRatio: config.traceSampleRatio,
    ...(config.metricsPort === undefined ? {} : { prometheus: { port: config.metricsPort, host: config.metricsHost } }),
    logger: log,
  });
  const service = await startInterpolationService(config, log);

  let stopping = false;
  const stop = (reason: string, code: number): void => {
    if (stopping) {
      log.warn({ reason }, "second signal: exiting without finishing the drain");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason, timeoutMs: config.drainTimeout, stopTimeoutMs: config.stopTimeout }, "draining");
    service
      .drain(config.drainTimeout)
      .then(async ({ forced }) => {
        await telemetry.shutdown().catch(() => {});
        log.info({ forced }, "stopped");
        process.exit(code);
      })
      .catch((err: unknown) => {
        log.error({ err }, "drain failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM", 0));
  process.on("SIGINT", () => stop("SIGINT", 0));
  service.queue?.worker.done.catch((err: unknown) => {
    if (stopping) return;
    log.fatal({ err }, "the queue worker stopped: NATS connection lost for good");
    stop("NATS connection lost", 1);
  });
}

main().catch((err: unknown) => {
  // Bad configuration (no logger yet) or a failed start-up: one clear message on stderr, exit 1.
  logger?.fatal({ err }, "start-up failed");
  process.stderr.write(`${SERVICE}-service: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
