export { TestClock } from "./clock.js";
export { probeDocker } from "./docker.js";
export { findNatsServer, LocalNats } from "./local.js";
export { startOtlpReceiver } from "./otlp-receiver.js";
export {
  type ExitInfo,
  findExecutable,
  freePort,
  killAllChildren,
  type ManagedProcess,
  makeTempDir,
  removeTempDir,
  type SpawnOptions,
  spawnProcess,
  sweepStaleTempDirs,
  waitForPort,
} from "./processes.js";
export { startServers } from "./servers.js";
export { createTestPki, type TestPki } from "./tls.js";
export type { TestServers } from "./types.js";
export { waitFor, waitForSpans } from "./wait.js";
