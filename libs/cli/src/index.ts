export { parseArgs, UsageError } from "./args.js";
export { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, run } from "./cli.js";
export {
  defaultOverlap,
  GENERATE_OPTIONS,
  type GenerateArgs,
  type GenerateRecord,
  generateCommand,
  parseGenerateArgs,
} from "./generate.js";
export type { CliIo } from "./io.js";
export { DEFAULT_LIST_ROOT, LIST_OPTIONS, listCommand, type RunEntry, type RunState } from "./list.js";
export { BUNDLED_PACK, defaultOutDir, defaultPackDir, REPO_ROOT, slugify } from "./paths.js";
export { PROBE_MISMATCH_EXIT, probeCommand } from "./probe-command.js";
export { ProgressReporter, type ProgressStream } from "./progress.js";
export { promptWords, unknownWords, unknownWordsWarning } from "./vocabulary.js";
