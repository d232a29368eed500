/**
 * Command-line parsing with one-line errors that name the argument and what it allows: Node's util.parseArgs
 * splits the command line, the checks and messages are this module's (see parseArgs). Long options only:
 * `--name value` or `--name=value`; a value may start with "-" (so `--guidance -1` reaches the range check),
 * but not with "--" (so `--prompt --seed 3` reports the missing prompt).
 */
import { parseArgs as nodeParseArgs } from "node:util";
import { closestMatch } from "leven";

/** A bad command line: exit code 2. `arg` is the argument it is about ("--frames", "command"). */
export class UsageError extends Error {
  readonly arg: string;
  constructor(arg: string, message: string) {
    super(`${arg}: ${message}`);
    this.name = "UsageError";
    this.arg = arg;
  }
}

export interface OptionSpec {
  /** Takes a value (default true); false for switches like --help. */
  value?: boolean;
  /** Placeholder in help ("N", "DIR"). */
  meta?: string;
}

export interface ParsedArgs {
  /** Option values by name (without "--"); switches map to "true". */
  options: Map<string, string>;
  positionals: string[];
}

/** The candidate closest to `word` (Levenshtein distance, at most max(2, a third of its length)), for "did you mean". */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  return closestMatch(word, candidates, { maxDistance: Math.max(2, Math.floor(word.length / 3)) });
}

/**
 * Splits `argv` with Node's util.parseArgs (non-strict, as tokens) and checks each token against `specs` in order,
 * so that the first problem is reported with this module's own one-line message. Non-strict because strict mode
 * rejects `--guidance -1` (a value starting with "-") before the range check and has no "did you mean" hint.
 */
export function parseArgs(argv: readonly string[], specs: Readonly<Record<string, OptionSpec>>): ParsedArgs {
  const names = Object.keys(specs);
  const config: Record<string, { type: "string" | "boolean" }> = {};
  for (const name of names) config[name] = { type: specs[name]?.value === false ? "boolean" : "string" };
  const { tokens } = nodeParseArgs({
    args: [...argv],
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const options = new Map<string, string>();
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === "option-terminator") continue;
    if (!token.rawName.startsWith("--")) {
      // A short option: only -h (for --help) is known; the whole argument is named ("-abc" is one token each).
      const arg = argv[token.index] as string;
      if (arg === "-h" && Object.hasOwn(specs, "help")) {
        options.set("help", "true");
        continue;
      }
      throw new UsageError(
        arg,
        `unknown option; options are long (--name value): ${names.map((n) => `--${n}`).join(", ")}`,
      );
    }
    const name = token.name;
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const hint = suggest(name, names);
      throw new UsageError(
        `--${name}`,
        `unknown option${hint ? ` (did you mean --${hint}?)` : ""}; options: ${names.map((n) => `--${n}`).join(", ")}`,
      );
    }
    if (options.has(name)) throw new UsageError(`--${name}`, "given more than once");
    if (spec.value === false) {
      if (token.value !== undefined) throw new UsageError(`--${name}`, "takes no value");
      options.set(name, "true");
      continue;
    }
    // A separate value may start with "-" but not with "--": `--prompt --seed 3` is a missing prompt.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) {
      throw new UsageError(`--${name}`, `needs a value${spec.meta ? ` (${spec.meta})` : ""}`);
    }
    options.set(name, token.value);
  }
  return { options, positionals };
}

// ---------------------------------------------------------------------------------------------------------------
// Value checks. Each throws UsageError naming the option and what it allows.

function show(v: string): string {
  return JSON.stringify(v);
}

export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name}`, `must be one of ${allowed.join(", ")}, got ${show(value)}`);
  }
  return value as T;
}

/** A decimal integer in [min, max]. */
export function integer(name: string, value: string, min: number, max: number): number {
  if (!/^[+-]?\d+$/.test(value.trim())) {
    throw new UsageError(`--${name}`, `must be an integer in [${min}, ${max}], got ${show(value)}`);
  }
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}`, `must be an integer in [${min}, ${max}], got ${show(value)}`);
  }
  return n;
}

/** A finite decimal number in [min, max]. */
export function decimal(name: string, value: string, min: number, max: number, note = ""): number {
  const ok = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value.trim());
  const n = Number(value.trim());
  if (!ok || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name}`, `must be a number in [${min}, ${max}]${note}, got ${show(value)}`);
  }
  return n;
}

/** A seed: a decimal integer in [0, 2^64). A number when it is a safe integer, a bigint beyond. */
export function seedValue(name: string, value: string): number | bigint {
  const text = value.trim();
  const bad = () => new UsageError(`--${name}`, `must be an integer in [0, 2^64 - 1], got ${show(value)}`);
  if (!/^\+?\d+$/.test(text)) throw bad();
  const n = BigInt(text.replace(/^\+/, ""));
  if (n >= 1n << 64n) throw bad();
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
