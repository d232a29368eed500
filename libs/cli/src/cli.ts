/** Command dispatch and error → exit code mapping for the `longshot` command. */
import { CancelledError, InvalidArgumentError, LongshotError } from "@longshot/core";
import { suggest, UsageError } from "./args.js";
import { generateCommand } from "./generate.js";
import { generateHelp, listHelp, mainHelp, probeHelp, serveHelp } from "./help.js";
import type { CliIo } from "./io.js";
import { listCommand } from "./list.js";
import { cliVersion } from "./paths.js";
import { probeCommand } from "./probe-command.js";
import { serveCommand } from "./serve.js";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

const COMMANDS: Record<string, (argv: readonly string[], io: CliIo) => Promise<number>> = {
  generate: generateCommand,
  list: listCommand,
  probe: probeCommand,
  serve: serveCommand,
};

/** "generate, list, probe or serve". */
function commandNames(): string {
  const names = Object.keys(COMMANDS);
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

function errorText(prefix: string, message: string): string {
  return `${prefix}${message}\n`;
}

/** Runs `longshot argv…` and returns the exit code; never throws. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(`longshot: missing command: expected ${commandNames()} (see longshot --help)\n`);
    return EXIT_USAGE;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" ? rest[0] : undefined;
    const help = { generate: generateHelp, list: listHelp, probe: probeHelp, serve: serveHelp }[topic ?? ""];
    io.stdout.write(help?.() ?? mainHelp());
    return EXIT_OK;
  }
  if (first === "--version" || first === "-v") {
    io.stdout.write(`longshot ${cliVersion()}\n`);
    return EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!command) {
    const names = Object.keys(COMMANDS);
    const hint = names.find((n) => first.length >= 2 && n.startsWith(first)) ?? suggest(first, names);
    io.stderr.write(
      `longshot: unknown command ${JSON.stringify(first)}${hint ? ` (did you mean ${hint}?)` : ""}: expected ${commandNames()} (see longshot --help)\n`,
    );
    return EXIT_USAGE;
  }
  const prefix = `longshot ${first}: `;
  try {
    return await command(rest, io);
  } catch (err) {
    // A progress bar may be mid-line.
    if (io.stderr.isTTY) io.stderr.write("\n");
    if (err instanceof UsageError) {
      io.stderr.write(errorText(prefix, `${err.message} (see longshot ${first} --help)`));
      return EXIT_USAGE;
    }
    if (err instanceof InvalidArgumentError) {
      io.stderr.write(errorText(prefix, err.message));
      return EXIT_USAGE;
    }
    if (err instanceof CancelledError || io.signal?.aborted) {
      io.stderr.write(`${prefix}cancelled\n`);
      return EXIT_INTERRUPTED;
    }
    if (err instanceof LongshotError) {
      io.stderr.write(errorText(prefix, `error: ${err.message}`));
      if (io.env.LONGSHOT_DEBUG) io.stderr.write(`${err.stack ?? ""}\n`);
      return EXIT_FAILED;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    io.stderr.write(errorText(prefix, `unexpected error: ${e.message}`));
    if (io.env.LONGSHOT_DEBUG) io.stderr.write(`${e.stack ?? ""}\n`);
    else io.stderr.write("(set LONGSHOT_DEBUG=1 for the stack trace)\n");
    return EXIT_FAILED;
  }
}
