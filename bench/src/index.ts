export { type ChartSpec, niceTicks, type Panel, renderChart, type Series } from "./chart.js";
export {
  clusterBenchCommand,
  commandProgram,
  parseClusterArgs,
  stageSecondsFromEngine,
  throughputBound,
} from "./cluster-bench.js";
export {
  caseId,
  checkAgainstPack,
  engineBenchCommand,
  type PlannedCase,
  parseEngineArgs,
  planCases,
} from "./engine-bench.js";
export { engineRun, type RunSpec, stageLabel } from "./engine-run.js";
export { machineInfo } from "./machine.js";
export { MemoryMonitor, type MemoryReport, parseProcStatus } from "./memory.js";
export {
  parseRealSizeArgs,
  pythonArgs,
  type RealSizeArgs,
  realSizeBenchCommand,
} from "./real-size-bench.js";
export { fp16EstimateMB, growth, linearFit, realSizeSection } from "./real-size-report.js";
export {
  type NamedRealSize,
  parseRealSizeFile,
  parseRealSizePython,
  REAL_SIZE_FORMAT,
  REAL_SIZE_PREFIX,
  type RealSizeCase,
  type RealSizeResults,
  readRealSizeResults,
} from "./real-size-results.js";
export {
  BOUNDED_GROWTH_FRACTION,
  BOUNDED_GROWTH_MB,
  type CaseSummary,
  interpolationPeak,
  isBounded,
  type NamedResult,
  readResults,
  renderReport,
  reportCommand,
  summarizeCase,
} from "./report.js";
export * from "./results.js";
export { median } from "./stats.js";
export { parseTorchArgs, StepClock, type TorchBenchArgs, torchBenchCommand } from "./torch-bench.js";
export {
  formatTorchSummary,
  type StepRow,
  stepRows,
  TARGET_PEAK_SHARE,
  TARGET_STEP_RATIO,
} from "./torch-summary.js";
