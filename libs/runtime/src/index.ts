export { checkInputs, formatShape, type TensorLike } from "./contract-check.js";
export {
  CONTRACT_GRAPHS,
  type ContractGraphName,
  type DefaultsSpec,
  type DimSpec,
  type FileEntry,
  type GraphSpec,
  type InterpolationSpec,
  isSafeRelativePath,
  type LatentSpec,
  type ManifestValidation,
  PACK_DTYPES,
  PACK_FORMAT,
  type PackManifest,
  type SchedulerConfig,
  type StageDefaults,
  type TensorSpec,
  type TextSpec,
  type VideoSpec,
  validateManifest,
} from "./manifest.js";
export { loadPack, Pack, type PackFile, PackIntegrityError, PackManifestError, sha256File } from "./pack.js";
export type { WorkerMemory } from "./protocol.js";
export {
  createModelRuntime,
  type ExecutionProvider,
  type ModelRuntime,
  type ModelRuntimeOptions,
  type ModelSession,
  type RunOptions,
  type RuntimeDescription,
  type RuntimeMemoryInfo,
  type WorkerInfo,
} from "./runtime.js";
