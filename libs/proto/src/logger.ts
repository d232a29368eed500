/**
 * The logging surface this package needs. A pino logger satisfies it; so does any object with
 * these four methods. Kept structural so @longshot/proto does not pin a logging library.
 */
export interface GrpcLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (for callers that truly want silence, e.g. short CLI calls). */
export const silentLogger: GrpcLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
