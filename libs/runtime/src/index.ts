// The pack a session is loaded from. The manifest, its schema and loadPack live in @longshot/pack; these are
// re-exported for the stage services, which load a pack and run it.
export {
  type DimSpec,
  type GraphSpec,
  loadPack,
  Pack,
  type PackFile,
  type PackManifest,
  type TensorSpec,
} from "@longshot/pack";
export { checkInputs, formatShape, type TensorLike } from "./contract-check.js";
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
