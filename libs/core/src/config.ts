/**
 * A small typed configuration loader shared by every service and the CLI.
 *
 * A schema names each field once, with where it may come from (an environment variable, a
 * command-line flag), its type, default and checks:
 *
 * ```ts
 * const schema = defineConfig({
 *   natsUrl: { type: "url", env: "LONGSHOT_NATS_URL", flag: "nats-url", default: "nats://127.0.0.1:4222", protocols: ["nats", "tls"] },
 *   port: { type: "int", env: "LONGSHOT_PORT", flag: "port", default: 50051, min: 1, max: 65535 },
 *   s3SecretKey: { type: "string", env: "LONGSHOT_S3_SECRET_KEY", required: true, secret: true },
 * });
 * const config = loadConfig(schema); // { natsUrl: string; port: number; s3SecretKey: string }
 * logger.info(`configuration:\n${describeConfig(schema, config)}`);
 * ```
 *
 * Precedence: flag, then environment, then default. An empty value (`LONGSHOT_PORT=` or `--port=`)
 * counts as not set. Every problem is collected and reported at once in a {@link ConfigValidationError}
 * whose message names the field, where the value came from and the bad value (masked for secrets).
 */

import { parseArgv } from "./config-argv.js";
import {
  type ConfigSchema,
  defaultProblem,
  type FieldSpec,
  type FieldValue,
  formatDuration,
  parseField,
} from "./config-fields.js";
import { ConfigError } from "./errors.js";

export {
  type BoolField,
  type ConfigSchema,
  type DurationField,
  type EnumField,
  type FieldSpec,
  type FieldType,
  type FieldValue,
  type FloatField,
  formatDuration,
  type IntField,
  parseDuration,
  type StringField,
  type UrlField,
} from "./config-fields.js";

/** The loaded configuration: fields that are required or have a default are always present. */
export type ConfigValues<S extends ConfigSchema> = {
  readonly [K in keyof S]: S[K] extends { readonly required: true }
    ? FieldValue<S[K]>
    : S[K] extends { readonly default: unknown }
      ? FieldValue<S[K]>
      : FieldValue<S[K]> | undefined;
};

export type ConfigSource = "flag" | "env" | "default" | "unset";

/** One problem found while loading. */
export interface ConfigIssue {
  /** Schema field name, when the problem concerns a field (an unknown flag does not). */
  readonly field?: string;
  readonly source: ConfigSource | "argv";
  /** The environment variable (`PORT`) or flag (`--port`) the value came from. */
  readonly origin?: string;
  readonly message: string;
}

/** Loading failed; `issues` lists every problem, and the message lists them one per line. */
export class ConfigValidationError extends ConfigError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i.message}`).join("\n")}`);
    this.name = "ConfigValidationError";
    this.issues = issues;
  }
}

export interface LoadConfigOptions {
  /** Defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Arguments after the program name; defaults to `process.argv.slice(2)`. */
  readonly argv?: readonly string[];
  /** Keep flags the schema does not know in `rest` instead of failing (for programs that parse more themselves). */
  readonly allowUnknownFlags?: boolean;
  /** Keep arguments that are not flags in `rest` instead of failing. */
  readonly allowPositionals?: boolean;
}

export interface LoadedConfig<S extends ConfigSchema> {
  readonly values: ConfigValues<S>;
  /** Where each field's value came from. */
  readonly sources: Readonly<Record<keyof S, ConfigSource>>;
  /** Positional arguments and (when allowed) unknown flags, in their original order. */
  readonly rest: readonly string[];
}

/**
 * Checks a schema once and returns it unchanged, keeping its literal types (so `ConfigValues`
 * knows enum values and which fields always have a value). Throws ConfigError for a schema mistake:
 * an env var or flag used twice, an enum without values, a default that fails its own checks.
 */
export function defineConfig<const S extends ConfigSchema>(schema: S): S {
  checkSchema(schema);
  return schema;
}

/**
 * Where a service's gRPC server listens (`grpcHost`, `grpcPort`: LONGSHOT_GRPC_HOST, LONGSHOT_GRPC_PORT),
 * with the service's default port; spread into its schema: `defineConfig({ ...grpcListenConfig(50052), … })`.
 */
export function grpcListenConfig(defaultPort: number) {
  return defineConfig({
    grpcHost: {
      type: "string",
      env: "LONGSHOT_GRPC_HOST",
      flag: "grpc-host",
      default: "0.0.0.0",
      description: "Address the gRPC server binds",
    },
    grpcPort: {
      type: "int",
      env: "LONGSHOT_GRPC_PORT",
      flag: "grpc-port",
      default: defaultPort,
      min: 0,
      max: 65535,
      description: "gRPC port (0 picks a free one)",
    },
  });
}

/** Loads a configuration; throws ConfigValidationError listing every problem. */
export function loadConfig<S extends ConfigSchema>(schema: S, options: LoadConfigOptions = {}): ConfigValues<S> {
  return loadConfigDetailed(schema, options).values;
}

const loadedSources = new WeakMap<object, Readonly<Record<string, ConfigSource>>>();

/** Like `loadConfig`, but also returns where each value came from and the arguments left over. */
export function loadConfigDetailed<S extends ConfigSchema>(
  schema: S,
  options: LoadConfigOptions = {},
): LoadedConfig<S> {
  checkSchema(schema);
  const env = options.env ?? process.env;
  const argv = options.argv ?? process.argv.slice(2);
  const issues: ConfigIssue[] = [];
  const { flags, rest, issues: argvIssues } = parseArgv(schema, argv, options);
  issues.push(...argvIssues);

  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const [name, spec] of Object.entries(schema)) {
    let raw: string | undefined;
    let source: ConfigSource = "unset";
    let origin: string | undefined;
    const fromFlag = spec.flag === undefined ? undefined : flags.get(spec.flag);
    const fromEnv = spec.env === undefined ? undefined : env[spec.env];
    if (fromFlag !== undefined && fromFlag.value !== "") {
      raw = fromFlag.value;
      source = "flag";
      origin = fromFlag.given;
    } else if (fromEnv !== undefined && fromEnv !== "") {
      raw = fromEnv;
      source = "env";
      origin = spec.env;
    }

    if (raw !== undefined) {
      const parsed = parseField(spec, raw);
      if (!parsed.ok) {
        const problem = parsed.error;
        const shown = spec.secret
          ? "<secret>"
          : JSON.stringify(spec.type === "url" ? maskUrlPassword(raw.trim()) : raw);
        const where = source === "flag" ? `flag ${origin}=${shown}` : `env ${origin}=${shown}`;
        issues.push({ field: name, source, origin, message: `${name}: ${where} ${problem}` });
        continue;
      }
      values[name] = parsed.value;
      sources[name] = source;
    } else if (spec.default !== undefined) {
      values[name] = spec.default;
      sources[name] = "default";
    } else {
      sources[name] = "unset";
      if (spec.required) {
        issues.push({ field: name, source: "unset", message: `${name}: is required; set ${whereToSet(spec)}` });
      }
      values[name] = undefined;
    }
  }

  if (issues.length > 0) throw new ConfigValidationError(issues);
  const frozen = Object.freeze(values) as ConfigValues<S>;
  const frozenSources = Object.freeze(sources) as Readonly<Record<keyof S, ConfigSource>>;
  loadedSources.set(frozen, frozenSources);
  return { values: frozen, sources: frozenSources, rest };
}

/**
 * The effective configuration as aligned `name = value  (source)` lines, for the start-up log.
 * Secrets show as `******`, and passwords inside URLs are masked as well.
 */
export function describeConfig<S extends ConfigSchema>(schema: S, values: ConfigValues<S>): string {
  const sources = loadedSources.get(values as object);
  const rows = Object.entries(schema).map(([name, spec]) => {
    const shown = displayValue(spec, (values as Record<string, unknown>)[name]);
    const source = sources?.[name];
    const from = source === "env" ? `env ${spec.env}` : source === "flag" ? `flag --${spec.flag}` : source;
    return { name, shown, from };
  });
  const nameWidth = Math.max(0, ...rows.map((r) => r.name.length));
  const valueWidth = Math.max(0, ...rows.map((r) => r.shown.length));
  return rows
    .map((r) => {
      const line = `${r.name.padEnd(nameWidth)} = ${r.from === undefined ? r.shown : r.shown.padEnd(valueWidth)}`;
      return r.from === undefined ? line : `${line}  (${r.from})`;
    })
    .join("\n");
}

/** The effective configuration as a plain object with secrets masked, for structured logs. */
export function redactConfig<S extends ConfigSchema>(
  schema: S,
  values: ConfigValues<S>,
): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const value = (values as Record<string, unknown>)[name];
    if (value === undefined) out[name] = null;
    else if (spec.secret) out[name] = SECRET_MASK;
    else if (spec.type === "url" && typeof value === "string") out[name] = maskUrlPassword(value);
    else out[name] = value as string | number | boolean;
  }
  return out;
}

/** One line per field for `--help`: flag, environment variable, type, default and description. */
export function configHelp(schema: ConfigSchema): string {
  const rows = Object.entries(schema).map(([name, spec]) => {
    const flag =
      spec.flag === undefined ? "" : spec.type === "bool" ? `--${spec.flag}` : `--${spec.flag}=${typeHint(spec)}`;
    const notes: string[] = [];
    if (spec.env !== undefined) notes.push(`env ${spec.env}`);
    if (spec.required) notes.push("required");
    if (spec.default !== undefined) notes.push(`default ${displayValue(spec, spec.default)}`);
    const left = flag === "" ? `(${name})` : flag;
    return { left, right: `${spec.description ?? name}${notes.length > 0 ? ` [${notes.join(", ")}]` : ""}` };
  });
  const width = Math.max(0, ...rows.map((r) => r.left.length));
  return rows.map((r) => `  ${r.left.padEnd(width)}  ${r.right}`).join("\n");
}

// ---------------------------------------------------------------------------------------------

const SECRET_MASK = "******";
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLAG_RE = /^[a-z0-9][a-z0-9-]*$/;

const checkedSchemas = new WeakSet<object>();

function checkSchema(schema: ConfigSchema): void {
  if (checkedSchemas.has(schema)) return;
  const problems: string[] = [];
  const envs = new Map<string, string>();
  const flags = new Map<string, string>();
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.env !== undefined) {
      if (!ENV_RE.test(spec.env))
        problems.push(`${name}: env ${JSON.stringify(spec.env)} is not a valid variable name`);
      const other = envs.get(spec.env);
      if (other !== undefined) problems.push(`${name}: env ${spec.env} is also used by ${other}`);
      envs.set(spec.env, name);
    }
    if (spec.flag !== undefined) {
      if (!FLAG_RE.test(spec.flag)) {
        problems.push(
          `${name}: flag ${JSON.stringify(spec.flag)} must be lower-case letters, digits and dashes, without leading dashes`,
        );
      }
      const other = flags.get(spec.flag);
      if (other !== undefined) problems.push(`${name}: flag --${spec.flag} is also used by ${other}`);
      flags.set(spec.flag, name);
    }
    if (spec.type === "enum" && spec.values.length === 0) problems.push(`${name}: enum has no values`);
    if (spec.default !== undefined) {
      const problem = defaultProblem(spec);
      if (problem !== undefined) problems.push(`${name}: default ${displayValue(spec, spec.default)} ${problem}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration schema:\n  - ${problems.join("\n  - ")}`);
  checkedSchemas.add(schema);
}

function displayValue(spec: FieldSpec, value: unknown): string {
  if (value === undefined) return "(unset)";
  if (spec.secret) return SECRET_MASK;
  if (spec.type === "duration" && typeof value === "number") return formatDuration(value);
  if (spec.type === "url" && typeof value === "string") return maskUrlPassword(value);
  return String(value);
}

function maskUrlPassword(text: string): string {
  try {
    const url = new URL(text);
    if (url.password === "") return text;
    url.password = SECRET_MASK;
    return url.href;
  } catch {
    return text;
  }
}

function typeHint(spec: FieldSpec): string {
  switch (spec.type) {
    case "enum":
      return spec.values.join("|");
    case "int":
      return "INT";
    case "float":
      return "NUMBER";
    case "duration":
      return "DURATION";
    case "url":
      return "URL";
    default:
      return "VALUE";
  }
}

function whereToSet(spec: FieldSpec): string {
  const ways: string[] = [];
  if (spec.env !== undefined) ways.push(`env ${spec.env}`);
  if (spec.flag !== undefined) ways.push(`flag --${spec.flag}`);
  return ways.length > 0 ? ways.join(" or ") : "a default in the schema (no env var or flag is defined)";
}
