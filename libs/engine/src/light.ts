/**
 * `@longshot/engine/light`: everything of the engine that loads no model runtime and no tokenizer: request
 * resolution against a pack, samplers, seeded noise, window planning and blending, latent helpers and the stage
 * functions (which take their ONNX sessions from the caller). The gateway imports only this, so its process never
 * loads @longshot/runtime or onnxruntime-node. The main entry adds the in-process pipeline (`Engine`) and the
 * prompt tokenizer.
 */
export * from "./latents.js";
export * from "./noise.js";
export * from "./noise-file.js";
export * from "./options.js";
export * from "./request.js";
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
