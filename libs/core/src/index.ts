export {
  type ConfigSchema,
  ConfigValidationError,
  type ConfigValues,
  configHelp,
  defineConfig,
  describeConfig,
  grpcListenConfig,
  loadConfig,
  redactConfig,
} from "./config.js";
export {
  CancelledError,
  ConfigError,
  type ErrorCode,
  IntegrityError,
  InvalidArgumentError,
  isTransient,
  LongshotError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from "./errors.js";
export { createLogger, type Logger, loggingConfig } from "./logging.js";
