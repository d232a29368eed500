// The engine without its model runtime: its explicit export list is light.ts (one list, not two).
export * from "./light.js";
export {
  Engine,
  type EngineCreateOptions,
  type EngineSessions,
  type GenerateControl,
  type GenerateResult,
  type GenerateStage,
  type ProgressEvent,
  type StageTimings,
} from "./pipeline.js";
export {
  PromptTokenizer,
  type TokenizedBatch,
} from "./tokenizer.js";
