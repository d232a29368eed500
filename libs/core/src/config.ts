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
import { ConfigError } from "./errors.js";

export type FieldType = "string" | "int" | "float" | "bool" | "enum" | "url" | "duration";

interface FieldCommon<V> {
  /** Environment variable read for this field, e.g. `LONGSHOT_NATS_URL`. */
  readonly env?: string;
  /** Command-line flag without its dashes, e.g. `nats-url` (given as `--nats-url=VALUE` or `--nats-url VALUE`). */
  readonly flag?: string;
  /** One line for `--help` output. */
  readonly description?: string;
  readonly default?: V;
  /** Loading fails when no source and no default give a value. */
  readonly required?: boolean;
  /** The value never appears in logs, `describeConfig` or error messages. */
  readonly secret?: boolean;
  /** A further check on the parsed value: returns what is wrong with it, or undefined when it is fine. */
  readonly validate?: (value: V) => string | undefined;
}

export interface StringField extends FieldCommon<string> {
  readonly type: "string";
}
export interface IntField extends FieldCommon<number> {
  readonly type: "int";
  readonly min?: number;
  readonly max?: number;
}
export interface FloatField extends FieldCommon<number> {
  readonly type: "float";
  readonly min?: number;
  readonly max?: number;
}
/** Accepts true/false, 1/0, yes/no, on/off (any case); a flag alone (`--verbose`) is true, `--no-verbose` false. */
export interface BoolField extends FieldCommon<boolean> {
  readonly type: "bool";
}
/** One of `values`; matched case-insensitively and returned as spelled in `values`. */
export interface EnumField<E extends string = string> extends FieldCommon<E> {
  readonly type: "enum";
  readonly values: readonly E[];
}
/** An absolute URL, kept as the string given. `protocols` (without the colon, e.g. `["nats", "tls"]`) restricts the scheme. */
export interface UrlField extends FieldCommon<string> {
  readonly type: "url";
  readonly protocols?: readonly string[];
}
/** A duration such as `250ms`, `30s`, `5m`, `1h30m` or `0`, loaded as milliseconds; `min`/`max` are milliseconds too. */
export interface DurationField extends FieldCommon<number> {
  readonly type: "duration";
  readonly min?: number;
  readonly max?: number;
}

export type FieldSpec = StringField | IntField | FloatField | BoolField | EnumField | UrlField | DurationField;
export type ConfigSchema = Readonly<Record<string, FieldSpec>>;

/** The loaded type of one field. */
export type FieldValue<F> = F extends { readonly type: "int" | "float" | "duration" }
  ? number
  : F extends { readonly type: "bool" }
    ? boolean
    : F extends { readonly type: "enum"; readonly values: readonly (infer E)[] }
      ? E
      : string;

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
  const { flags, rest } = parseArgv(schema, argv, options, issues);

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
      const parsed = parseValue(spec, raw);
      const problem = parsed.ok ? checkValue(spec, parsed.value) : parsed.error;
      if (problem !== undefined) {
        const shown = spec.secret
          ? "<secret>"
          : JSON.stringify(spec.type === "url" ? maskUrlPassword(raw.trim()) : raw);
        const where = source === "flag" ? `flag ${origin}=${shown}` : `env ${origin}=${shown}`;
        issues.push({ field: name, source, origin, message: `${name}: ${where} ${problem}` });
        continue;
      }
      values[name] = parsed.ok ? parsed.value : undefined;
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

/** Parses a duration (`250ms`, `1.5s`, `5m`, `1h30m`, `2d`, or `0`) into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "0") return 0;
  if (!DURATION_RE.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(DURATION_PART_RE)) {
    const amount = Number(m[1]);
    const unit = m[2] as keyof typeof DURATION_UNITS;
    total += amount * DURATION_UNITS[unit];
  }
  return total;
}

/** Renders milliseconds the way `parseDuration` reads them back: `1h30m`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return "0";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", DURATION_UNITS.d],
    ["h", DURATION_UNITS.h],
    ["m", DURATION_UNITS.m],
    ["s", DURATION_UNITS.s],
  ] as const) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  if (rest > 0) parts.push(`${Number(rest.toFixed(3))}ms`);
  return sign + parts.join("");
}

// ---------------------------------------------------------------------------------------------

const SECRET_MASK = "******";
const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLAG_RE = /^[a-z0-9][a-z0-9-]*$/;
const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

function parseValue(spec: FieldSpec, raw: string): Parsed {
  const text = raw.trim();
  switch (spec.type) {
    case "string":
      return { ok: true, value: raw };
    case "int": {
      const n = Number(text);
      if (!INT_RE.test(text) || !Number.isSafeInteger(n)) return { ok: false, error: "is not an integer" };
      return { ok: true, value: n };
    }
    case "float": {
      const n = Number(text);
      if (!FLOAT_RE.test(text) || !Number.isFinite(n)) return { ok: false, error: "is not a number" };
      return { ok: true, value: n };
    }
    case "bool": {
      const word = text.toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false, error: "is not a boolean (use true/false, 1/0, yes/no or on/off)" };
    }
    case "enum": {
      const match = spec.values.find((v) => v.toLowerCase() === text.toLowerCase());
      if (match === undefined) return { ok: false, error: `is not one of ${spec.values.join(", ")}` };
      return { ok: true, value: match };
    }
    case "url": {
      if (!URL.canParse(text)) return { ok: false, error: "is not an absolute URL (e.g. nats://127.0.0.1:4222)" };
      return { ok: true, value: text };
    }
    case "duration": {
      const ms = parseDuration(text);
      if (ms === undefined) return { ok: false, error: "is not a duration (use e.g. 500ms, 30s, 5m, 1h30m)" };
      return { ok: true, value: ms };
    }
  }
}

/** Range, protocol and custom checks on a parsed value (also applied to defaults). */
function checkValue(spec: FieldSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case "int":
    case "float":
    case "duration": {
      const n = value as number;
      const show = (x: number) => (spec.type === "duration" ? formatDuration(x) : String(x));
      if (spec.min !== undefined && n < spec.min) return `is below the minimum ${show(spec.min)}`;
      if (spec.max !== undefined && n > spec.max) return `is above the maximum ${show(spec.max)}`;
      return spec.validate?.(n);
    }
    case "url": {
      if (spec.protocols !== undefined) {
        const scheme = new URL(value as string).protocol.replace(/:$/, "");
        const allowed = spec.protocols.map((p) => p.replace(/:$/, "").toLowerCase());
        if (!allowed.includes(scheme.toLowerCase())) return `has scheme ${scheme}:, expected ${allowed.join(", ")}`;
      }
      return spec.validate?.(value as string);
    }
    case "string":
      return spec.validate?.(value as string);
    case "bool":
      return spec.validate?.(value as boolean);
    case "enum":
      return spec.validate?.(value as string);
  }
}

interface FlagValue {
  readonly value: string;
  /** How it was written, for messages: `--port`. */
  readonly given: string;
}

function parseArgv(
  schema: ConfigSchema,
  argv: readonly string[],
  options: LoadConfigOptions,
  issues: ConfigIssue[],
): { flags: Map<string, FlagValue>; rest: string[] } {
  const byFlag = new Map<string, FieldSpec>();
  for (const spec of Object.values(schema)) if (spec.flag !== undefined) byFlag.set(spec.flag, spec);
  const flags = new Map<string, FlagValue>();
  const rest: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      for (const positional of argv.slice(i + 1)) {
        if (options.allowPositionals) rest.push(positional);
        else issues.push({ source: "argv", message: `unexpected argument ${JSON.stringify(positional)}` });
      }
      break;
    }
    if (!arg.startsWith("--") || arg === "-") {
      if (options.allowPositionals) rest.push(arg);
      else issues.push({ source: "argv", message: `unexpected argument ${JSON.stringify(arg)}` });
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let spec = byFlag.get(name);
    let flagName = name;
    let negated = false;
    if (spec === undefined && name.startsWith("no-")) {
      const positive = byFlag.get(name.slice(3));
      if (positive?.type === "bool") {
        spec = positive;
        flagName = name.slice(3);
        negated = true;
      }
    }
    if (spec === undefined) {
      if (options.allowUnknownFlags) {
        rest.push(arg);
      } else {
        const known = [...byFlag.keys()].map((f) => `--${f}`).join(", ");
        issues.push({
          source: "argv",
          origin: `--${name}`,
          message: `--${name}: unknown flag${known === "" ? "" : ` (known flags: ${known})`}`,
        });
      }
      continue;
    }
    if (spec.type === "bool") {
      if (negated) {
        if (inline !== undefined) {
          issues.push({ source: "flag", origin: `--${name}`, message: `--${name}: takes no value (got "${inline}")` });
          continue;
        }
        flags.set(flagName, { value: "false", given: `--${name}` });
      } else {
        flags.set(flagName, { value: inline ?? "true", given: `--${name}` });
      }
      continue;
    }
    if (inline !== undefined) {
      flags.set(flagName, { value: inline, given: `--${name}` });
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) {
      issues.push({ source: "flag", origin: `--${name}`, message: `--${name}: needs a value (--${name}=VALUE)` });
      continue;
    }
    flags.set(flagName, { value: next, given: `--${name}` });
    i++;
  }
  return { flags, rest };
}

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
      const problem = checkDefault(spec);
      if (problem !== undefined) problems.push(`${name}: default ${displayValue(spec, spec.default)} ${problem}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration schema:\n  - ${problems.join("\n  - ")}`);
  checkedSchemas.add(schema);
}

function checkDefault(spec: FieldSpec): string | undefined {
  const value: unknown = spec.default;
  switch (spec.type) {
    case "string":
      if (typeof value !== "string") return "is not a string";
      break;
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) return "is not an integer";
      break;
    case "float":
    case "duration":
      if (typeof value !== "number" || !Number.isFinite(value)) return "is not a finite number";
      break;
    case "bool":
      if (typeof value !== "boolean") return "is not a boolean";
      break;
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) return `is not one of ${spec.values.join(", ")}`;
      break;
    case "url": {
      const parsed = typeof value === "string" ? parseValue(spec, value) : undefined;
      if (parsed === undefined || !parsed.ok) return "is not an absolute URL";
      break;
    }
  }
  return checkValue(spec, value);
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
