import type { ProgressStream } from "./progress.js";

/** Where a command reads its environment and writes its output (process streams in main.ts; buffers in tests). */
export interface CliIo {
  stdout: ProgressStream;
  stderr: ProgressStream;
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C: the running command stops and exits with 130. */
  signal?: AbortSignal | undefined;
}
