/**
 * The command-line part of a configuration (see config.ts): `--flag=value`, `--flag value`, `--flag` and
 * `--no-flag` for booleans, `--` before positional arguments. Every problem is collected, not only the first.
 *
 * Hand-written rather than Node's util.parseArgs: its tokens read `-x` and `-1` as short options where this
 * loader keeps them as arguments and values, and in non-strict mode it takes `--next` as the value of a flag
 * that needs one, hiding `--next`'s own problem from the collected list (strict mode stops at the first problem
 * and rejects values starting with "-").
 */
import type { ConfigSchema, FieldSpec } from "./config-fields.js";

/** A problem with the command line (config.ts's ConfigIssue without a field). */
export interface ArgvIssue {
  readonly source: "flag" | "argv";
  readonly origin?: string;
  readonly message: string;
}

export interface ArgvOptions {
  readonly allowUnknownFlags?: boolean;
  readonly allowPositionals?: boolean;
}

export interface FlagValue {
  readonly value: string;
  /** How it was written, for messages: `--port`. */
  readonly given: string;
}

export function parseArgv(
  schema: ConfigSchema,
  argv: readonly string[],
  options: ArgvOptions,
): { flags: Map<string, FlagValue>; rest: string[]; issues: ArgvIssue[] } {
  const issues: ArgvIssue[] = [];
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
  return { flags, rest, issues };
}
