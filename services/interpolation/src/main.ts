/**
 * Entry point of the interpolation service: `node dist/main.js [--flags]` (see --help).
 * Loads the configuration, prints it without secrets, starts serving, and on SIGTERM/SIGINT drains:
 * health NOT_SERVING, running calls finish (cancelled after --drain-timeout), sessions freed, exit 0.
 * A second signal exits at once with code 1.
 */
import { configHelp, createLogger, describeConfig, type Logger, loadConfig } from "@longshot/core";
import { interpolationConfigSchema } from "./config.js";
import { startInterpolationService } from "./server.js";

let logger: Logger | undefined;

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`Usage: interpolation-service [flags]\n\n${configHelp(interpolationConfigSchema)}\n`);
    return;
  }
  const config = loadConfig(interpolationConfigSchema);
  const log = createLogger("interpolation", config.logLevel, { format: config.logFormat });
  logger = log;
  log.info(`configuration:\n${describeConfig(interpolationConfigSchema, config)}`);
  const service = await startInterpolationService(config, log);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without finishing the drain");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, timeoutMs: config.drainTimeout }, "draining");
    service.drain(config.drainTimeout).then(
      ({ forced }) => {
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
  process.stderr.write(`interpolation-service: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
