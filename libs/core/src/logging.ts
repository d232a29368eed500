/**
 * Logger factory shared by every service: pino, one JSON object per line in production
 * (`{"level":"info","time":"…","service":"keyframe",…,"msg":"…"}`), or short readable lines
 * when writing to a terminal during development.
 */
import { hostname } from "node:os";
import pino from "pino";
import { defineConfig } from "./config.js";
import { InvalidArgumentError } from "./errors.js";

export type Logger = pino.Logger;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `auto` is `pretty` when stdout is a terminal and NODE_ENV is not `production`, else `json`. */
export const LOG_FORMATS = ["auto", "json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Config fields every service shares; spread them into a service schema: `defineConfig({ ...loggingConfig, … })`. */
export const loggingConfig = defineConfig({
  logLevel: {
    type: "enum",
    values: LOG_LEVELS,
    env: "LONGSHOT_LOG_LEVEL",
    flag: "log-level",
    default: "info",
    description: "Lowest level written to the log",
  },
  logFormat: {
    type: "enum",
    values: LOG_FORMATS,
    env: "LONGSHOT_LOG_FORMAT",
    flag: "log-format",
    default: "auto",
    description: "json (one object per line), pretty (for terminals) or auto",
  },
});

/** Keys whose values never reach the log, at the top level or one object down. */
const REDACTED_KEYS = ["password", "secret", "secretKey", "token", "authorization", "apiKey"];

export interface CreateLoggerOptions {
  readonly format?: LogFormat;
  /** Where lines go; defaults to stdout. Tests pass a stream that collects them. */
  readonly destination?: pino.DestinationStream;
  /** Extra fields on every line. */
  readonly base?: Record<string, unknown>;
  /** Fields computed for every line, e.g. the active trace and span ids. */
  readonly mixin?: () => Record<string, unknown>;
}

/** Creates the root logger of a service; use `logger.child({ jobId })` for per-job loggers. */
export function createLogger(service: string, level: LogLevel = "info", options: CreateLoggerOptions = {}): Logger {
  if (typeof service !== "string" || service.trim() === "") {
    throw new InvalidArgumentError("service", "must be a non-empty service name");
  }
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InvalidArgumentError("level", `${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(", ")}`);
  }
  const format = options.format ?? "auto";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new InvalidArgumentError("format", `${JSON.stringify(format)} is not one of ${LOG_FORMATS.join(", ")}`);
  }
  const pretty =
    format === "pretty" ||
    (format === "auto" &&
      options.destination === undefined &&
      process.stdout.isTTY === true &&
      process.env.NODE_ENV !== "production");

  const loggerOptions: pino.LoggerOptions = {
    level,
    base: { service, pid: process.pid, hostname: hostname(), ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.errWithCause, error: pino.stdSerializers.errWithCause },
    redact: { paths: REDACTED_KEYS.flatMap((k) => [k, `*.${k}`]), censor: "[redacted]" },
    ...(options.mixin === undefined ? {} : { mixin: options.mixin }),
  };
  const out = options.destination ?? (pretty ? stdoutStream : undefined);
  const destination = pretty ? prettyStream(out ?? stdoutStream) : out;
  return destination === undefined ? pino(loggerOptions) : pino(loggerOptions, destination);
}

const stdoutStream: pino.DestinationStream = { write: (s: string) => void process.stdout.write(s) };

const LEVEL_TAGS: Record<string, string> = {
  fatal: "FATAL",
  error: "ERROR",
  warn: "WARN ",
  info: "INFO ",
  debug: "DEBUG",
  trace: "TRACE",
};
const OMITTED = new Set(["level", "time", "service", "pid", "hostname", "msg", "err", "error"]);

/** Turns pino's JSON lines into `12:00:00.000 INFO  keyframe: message key=value` lines. */
function prettyStream(out: pino.DestinationStream): pino.DestinationStream {
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof rec.time === "string" ? rec.time.slice(11, 23) : "";
      const level = LEVEL_TAGS[String(rec.level)] ?? String(rec.level);
      const fields = Object.entries(rec)
        .filter(([k]) => !OMITTED.has(k))
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      let text = `${time} ${level} ${String(rec.service)}: ${String(rec.msg ?? "")}`;
      if (fields.length > 0) text += ` ${fields.join(" ")}`;
      for (const key of ["err", "error"]) {
        const err = rec[key] as { stack?: unknown; message?: unknown } | undefined;
        if (err !== undefined) {
          const detail = String(err.stack ?? err.message ?? JSON.stringify(err));
          text += `\n    ${detail.replaceAll("\n", "\n    ")}`;
        }
      }
      out.write(`${text}\n`);
    },
  };
}
