/** Command-line helpers shared by the suite's commands. */

/** Where a command writes (process.stdout / process.stderr, or a string sink in tests). */
export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Quotes one argument for a POSIX shell, only when it needs it (for the command lines recorded in results). */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_./:=,@%+-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
