#!/usr/bin/env node
/**
 * The `longshot` command (reached through scripts/longshot, the root package.json's bin). Ctrl-C once stops the
 * running generation cleanly (exit 130); twice ends the process at once (killed by SIGINT).
 */
import { run } from "./cli.js";

const controller = new AbortController();
let interrupts = 0;
const onSigint = () => {
  interrupts++;
  if (interrupts > 1) {
    // Die of SIGINT like an unhandled Ctrl-C (the shell reports 130), without running exit-time teardown while
    // an onnxruntime call may still be running in a worker.
    process.removeListener("SIGINT", onSigint);
    process.kill(process.pid, "SIGINT");
    return;
  }
  process.stderr.write("\nlongshot: stopping (Ctrl-C again to quit at once)\n");
  controller.abort();
};
process.on("SIGINT", onSigint);

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
process.exitCode = code;
// Everything is closed by now; should a stray handle keep the event loop alive, do not hang the shell.
setTimeout(() => process.exit(code), 2000).unref();
