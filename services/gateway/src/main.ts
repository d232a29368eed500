/**
 * Entry point of the gateway: `node dist/main.js [--flags]` (see --help).
 * Loads the configuration, prints it without secrets, starts serving, and on SIGTERM/SIGINT drains:
 * health NOT_SERVING, running calls finish (cancelled after --drain-timeout), exit 0.
 * A second signal exits at once with code 1.
 */
import { configHelp, createLogger, describeConfig, type Logger, loadConfig } from "@longshot/core";
import { initTelemetry, traceLogMixin } from "@longshot/telemetry";
import { gatewayConfigSchema } from "./config.js";
import { startGatewayService } from "./server.js";

let logger: Logger | undefined;

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`Usage: gateway [flags]\n\n${configHelp(gatewayConfigSchema)}\n`);
    return;
  }
  const config = loadConfig(gatewayConfigSchema);
  const log = createLogger("gateway", config.logLevel, { format: config.logFormat, mixin: traceLogMixin });
  logger = log;
  log.info(`configuration:\n${describeConfig(gatewayConfigSchema, config)}`);
  const telemetry = await initTelemetry({
    serviceName: "gateway",
    otlpEndpoint: config.otlpEndpoint,
    sampleRatio: config.traceSampleRatio,
    ...(config.metricsPort === undefined ? {} : { prometheus: { port: config.metricsPort, host: config.metricsHost } }),
    logger: log,
  });
  const service = await startGatewayService(config, log);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without finishing the drain");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, timeoutMs: config.drainTimeout }, "draining");
    service.drain(config.drainTimeout).then(
      async ({ forced }) => {
        await telemetry.shutdown().catch(() => {});
        log.info({ forced }, "stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  // Bad configuration (no logger yet) or a failed start-up: one clear message on stderr, exit 1.
  logger?.fatal({ err }, "start-up failed");
  process.stderr.write(`gateway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
