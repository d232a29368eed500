export * from "./latents.js";
export * from "./noise.js";
export * from "./noise-file.js";
export * from "./options.js";
export * from "./pipeline.js";
export * from "./schedulers/index.js";
export * from "./seams.js";
export * from "./stage-noise.js";
export * from "./stages/decode.js";
export {
  checkGuidance,
  checkTextEmbeddings,
  type GuidedCall,
  guidedNoise,
  injectsNoise,
  makeScheduler,
  type SamplerSpec,
  type StepCallback,
  throwIfCancelled,
} from "./stages/denoise.js";
export * from "./stages/encode-prompt.js";
export * from "./stages/interpolate.js";
export * from "./stages/interpolate-windowed.js";
export * from "./stages/keyframes.js";
export * from "./tokenizer.js";
