/**
 * Entry point of the decoder service: `node dist/main.js [--flags]` (see --help).
 * Loads the configuration, prints it without secrets, starts serving, and on SIGTERM/SIGINT drains:
 * health NOT_SERVING, running calls finish (cancelled after --drain-timeout), sessions freed, exit 0.
 * A second signal exits at once with code 1.
 */
import { configHelp, createLogger, describeConfig, type Logger, loadConfig } from "@longshot/core";
import { decoderConfigSchema } from "./config.js";
import { startDecoderService } from "./server.js";

let logger: Logger | undefined;

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`Usage: decoder-service [flags]\n\n${configHelp(decoderConfigSchema)}\n`);
    return;
  }
  const config = loadConfig(decoderConfigSchema);
  const log = createLogger("decoder", config.logLevel, { format: config.logFormat });
  logger = log;
  log.info(`configuration:\n${describeConfig(decoderConfigSchema, config)}`);
  const service = await startDecoderService(config, log);

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
  process.stderr.write(`decoder-service: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
