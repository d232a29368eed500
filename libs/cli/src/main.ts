#!/usr/bin/env node
/**
 * The `longshot` command (reached through scripts/longshot, the root package.json's bin). Ctrl-C once stops the
 * running generation cleanly (exit 130); twice exits at once.
 */
import { EXIT_INTERRUPTED, run } from "./cli.js";

const controller = new AbortController();
let interrupts = 0;
process.on("SIGINT", () => {
  interrupts++;
  if (interrupts > 1) process.exit(EXIT_INTERRUPTED);
  process.stderr.write("\nlongshot: stopping (Ctrl-C again to quit at once)\n");
  controller.abort();
});

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
process.exitCode = code;
// Everything is closed by now; should a stray handle keep the event loop alive, do not hang the shell.
setTimeout(() => process.exit(code), 2000).unref();
