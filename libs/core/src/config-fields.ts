/**
 * The fields of a configuration schema (see config.ts): their declared types, and the zod schemas that read a
 * field's text (from a flag or the environment) and check a value (parsed, or a schema's default). Each check
 * carries the message a ConfigIssue shows ("is not an integer", "is below the minimum 1s"); the first one that
 * fails is the field's problem.
 */
import { z } from "zod";

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

/** A field's text parsed and checked: its value, or what is wrong with it. */
export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** Reads a field's text (not yet trimmed) as its value, with every check of the field. */
export function parseField(spec: FieldSpec, raw: string): Parsed {
  const read = textSchema(spec).safeParse(raw);
  return read.success ? outcome(valueSchema(spec).safeParse(read.data)) : outcome(read);
}

/** What is wrong with a schema's default for `spec` (its type, range, protocol or custom check), if anything. */
export function defaultProblem(spec: FieldSpec): string | undefined {
  const result = valueSchema(spec).safeParse(spec.default);
  return result.success ? undefined : firstMessage(result.error);
}

// ---------------------------------------------------------------------------------------------

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

function firstMessage(error: z.ZodError): string {
  return error.issues[0]?.message ?? "is not valid";
}

function outcome(result: z.ZodSafeParseResult<unknown>): Parsed {
  return result.success ? { ok: true, value: result.data } : { ok: false, error: firstMessage(result.error) };
}

/** The field's own `validate`, after its other checks. */
function withValidate<T>(schema: z.ZodType<T>, validate: ((value: T) => string | undefined) | undefined) {
  if (validate === undefined) return schema;
  return schema.superRefine((value, ctx) => {
    const problem = validate(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });
}

/** min/max on a number (milliseconds for a duration, shown as one); the first bound broken stops the checks. */
function inRange(schema: z.ZodNumber, spec: IntField | FloatField | DurationField): z.ZodNumber {
  const show = (x: number) => (spec.type === "duration" ? formatDuration(x) : String(x));
  let checked = schema;
  const { min, max } = spec;
  if (min !== undefined) checked = checked.min(min, { error: `is below the minimum ${show(min)}`, abort: true });
  if (max !== undefined) checked = checked.max(max, { error: `is above the maximum ${show(max)}`, abort: true });
  return checked;
}

/** Checks on a typed value: a parsed one (whose type is then right) or a schema's default. */
function valueSchema(spec: FieldSpec): z.ZodType {
  switch (spec.type) {
    case "string":
      return withValidate(z.string({ error: "is not a string" }), spec.validate);
    case "bool":
      return withValidate(z.boolean({ error: "is not a boolean" }), spec.validate);
    case "int": {
      const int = z.number({ error: "is not an integer" }).refine(Number.isSafeInteger, {
        error: "is not an integer",
        abort: true,
      });
      return withValidate(int.pipe(inRange(z.number(), spec)), spec.validate);
    }
    case "float":
    case "duration":
      return withValidate(inRange(z.number({ error: "is not a finite number" }), spec), spec.validate);
    case "enum": {
      const values: readonly string[] = spec.values;
      const oneOf = z
        .string({ error: `is not one of ${values.join(", ")}` })
        .refine((v) => values.includes(v), { error: `is not one of ${values.join(", ")}`, abort: true });
      return withValidate(oneOf, spec.validate);
    }
    case "url": {
      const url = z
        .string({ error: "is not an absolute URL" })
        .refine((v) => URL.canParse(v), { error: "is not an absolute URL", abort: true });
      const protocols = spec.protocols?.map((p) => p.replace(/:$/, "").toLowerCase());
      const scheme = (v: string) => new URL(v).protocol.replace(/:$/, "");
      const allowed =
        protocols === undefined
          ? url
          : url.superRefine((v, ctx) => {
              if (!protocols.includes(scheme(v).toLowerCase())) {
                ctx.addIssue({ code: "custom", message: `has scheme ${scheme(v)}:, expected ${protocols.join(", ")}` });
              }
            });
      return withValidate(allowed, spec.validate);
    }
  }
}

/** A field's text (flag or environment) read as a value of its type; {@link valueSchema} checks it then. */
function textSchema(spec: FieldSpec): z.ZodType {
  const text = z.string();
  const words = (read: (word: string) => unknown, problem: string) =>
    text.transform((raw, ctx) => {
      const value = read(raw.trim());
      if (value !== undefined) return value;
      ctx.issues.push({ code: "custom", message: problem, input: raw });
      return z.NEVER;
    });
  switch (spec.type) {
    case "string":
      return text;
    case "int":
      return text.trim().regex(INT_RE, "is not an integer").transform(Number);
    case "float":
      return text
        .trim()
        .regex(FLOAT_RE, "is not a number")
        .transform(Number)
        .refine(Number.isFinite, { error: "is not a number", abort: true });
    case "bool":
      return words((w) => {
        const word = w.toLowerCase();
        return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : undefined;
      }, "is not a boolean (use true/false, 1/0, yes/no or on/off)");
    case "enum":
      return words(
        (w) => spec.values.find((v) => v.toLowerCase() === w.toLowerCase()),
        `is not one of ${spec.values.join(", ")}`,
      );
    case "url":
      return text
        .trim()
        .refine((v) => URL.canParse(v), { error: "is not an absolute URL (e.g. nats://127.0.0.1:4222)", abort: true });
    case "duration":
      return words(parseDuration, "is not a duration (use e.g. 500ms, 30s, 5m, 1h30m)");
  }
}
