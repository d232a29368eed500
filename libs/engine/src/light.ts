/**
 * `@longshot/engine/light`: everything of the engine that loads no model runtime and no tokenizer: request
 * resolution against a pack, samplers, seeded noise, window planning and blending, latent helpers and the stage
 * functions (which take their ONNX sessions from the caller). The gateway imports only this, so its process never
 * loads @longshot/runtime or onnxruntime-node. The main entry adds the in-process pipeline (`Engine`) and the
 * prompt tokenizer.
 */
export {
  blendKnownFrames,
  concat,
  expectDims,
  f32Tensor,
  gatherFrames,
  interpolationConditioning,
  type LatentDims,
  latentDims,
  maxAbsDiff,
  meanAbsDiff,
  repeatBatch,
  scatterFramesInto,
  sliceFrames,
} from "./latents.js";
export {
  philox4x32,
  randn,
  randnAt,
  randnFrames,
  seedKey,
  streamWords,
} from "./noise.js";
export { readNoiseFile } from "./noise-file.js";
export {
  type GenerateOptions,
  levelFrames,
  MAX_GUIDANCE,
  MAX_PROMPT_LENGTH,
  type ResolvedGeneration,
  type ResolvedSettings,
  resolveGenerateOptions,
  type WindowOptions,
} from "./options.js";
export {
  describeValue,
  REQUEST_FIELDS,
  type RequestField,
  type RequestFieldNames,
  type RequestInput,
  type RequestLimits,
  type RequestPack,
  type ResolvedRequest,
  type ResolveRequestOptions,
  resolveRequest,
} from "./request.js";
export {
  BETA_SCHEDULES,
  type BetaSchedule,
  type BetaScheduleConfig,
  betasForAlphaBar,
  checkBeginIndex,
  checkSameLength,
  checkSample,
  checkTimestepNumber,
  createScheduler,
  cumprodF32,
  DDIM_PREDICTION_TYPES,
  type DDIMConfig,
  DDIMScheduler,
  DPM_PREDICTION_TYPES,
  type DPMSolverMultistepConfig,
  DPMSolverMultistepScheduler,
  EULER_ANCESTRAL_PREDICTION_TYPES,
  EULER_PREDICTION_TYPES,
  type EulerAncestralDiscreteConfig,
  EulerAncestralDiscreteScheduler,
  type EulerDiscreteConfig,
  EulerDiscreteScheduler,
  eulerTimesteps,
  fmaF32,
  indexForTimestep,
  isSchedulerName,
  karrasSigmas,
  makeBetas,
  makeNoiseSchedule,
  type NoiseSchedule,
  numpyArange,
  numpyLinspace,
  readDDIMConfig,
  readDPMSolverMultistepConfig,
  readEulerAncestralDiscreteConfig,
  readEulerDiscreteConfig,
  rescaleZeroTerminalSnr,
  roundHalfEven,
  SCHEDULER_NAMES,
  type Scheduler,
  type SchedulerConfigInput,
  type SchedulerName,
  SchedulerStateError,
  type StepOptions,
  type StepOutput,
  sigmaToT,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
  torchLinspaceF32,
  trainSigmas,
} from "./schedulers/index.js";
export {
  frameSteps,
  median,
  rms,
  SEAM_BOUND,
  type SeamReport,
  seamReport,
  windowBorders,
} from "./seams.js";
export {
  interpolationStream,
  KEYFRAME_STREAM,
  type StageNoise,
  seededStageNoise,
  stepStream,
  tensorStageNoise,
} from "./stage-noise.js";
export {
  DEFAULT_DECODE_BATCH,
  type DecodedBatch,
  type DecodeInput,
  decodeBatches,
  decodeFrames,
  imageToRgb,
} from "./stages/decode.js";
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
export {
  type EncodePromptInput,
  encodePrompt,
} from "./stages/encode-prompt.js";
export {
  checkWindow,
  type FrameWindow,
  INTERPOLATION_MODES,
  type InterpolationMode,
  type InterpolationStageInput,
  interpolatedFrames,
  interpolateFrames,
  interpolatePass,
  isInterpolationMode,
  strengthBeginIndex,
} from "./stages/interpolate.js";
export {
  type BlendOptions,
  blendWeights,
  blendWindows,
  checkWindowSizes,
  interpolateWindowed,
  planWindows,
  runWindow,
  type WindowedInterpolationInput,
  type WindowInfo,
  type WindowResult,
  type WindowStageInput,
} from "./stages/interpolate-windowed.js";
export {
  denoiseKeyframes,
  type KeyframeStageInput,
} from "./stages/keyframes.js";
