/**
 * Command-line parsing with one-line errors that name the argument and what it allows. Long options only:
 * `--name value` or `--name=value`; a value may start with "-" (so `--guidance -1` reaches the range check),
 * but not with "--" (so `--prompt --seed 3` reports the missing prompt).
 */

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

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dd = distance(word, c);
    if (dd < bestD) {
      bestD = dd;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function parseArgs(argv: readonly string[], specs: Readonly<Record<string, OptionSpec>>): ParsedArgs {
  const options = new Map<string, string>();
  const positionals: string[] = [];
  const names = Object.keys(specs);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
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
        if (eq >= 0) throw new UsageError(`--${name}`, "takes no value");
        options.set(name, "true");
        continue;
      }
      let value: string;
      if (eq >= 0) {
        value = arg.slice(eq + 1);
      } else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith("--")) {
          throw new UsageError(`--${name}`, `needs a value${spec.meta ? ` (${spec.meta})` : ""}`);
        }
        value = next;
        i++;
      }
      options.set(name, value);
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") {
      if (arg === "-h") {
        if (Object.hasOwn(specs, "help")) {
          options.set("help", "true");
          continue;
        }
      }
      throw new UsageError(
        arg,
        `unknown option; options are long (--name value): ${names.map((n) => `--${n}`).join(", ")}`,
      );
    }
    positionals.push(arg);
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
