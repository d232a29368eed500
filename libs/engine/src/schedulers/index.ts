export * from "./betas.js";
export {
  BETA_SCHEDULES,
  type BetaSchedule,
  type BetaScheduleConfig,
  type SchedulerConfigInput,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
} from "./config.js";
export * from "./ddim.js";
export * from "./dpm-solver-multistep.js";
export * from "./euler-ancestral-discrete.js";
export * from "./euler-discrete.js";
export * from "./factory.js";
export { cumprodF32, fmaF32, numpyArange, numpyLinspace, roundHalfEven, torchLinspaceF32 } from "./numerics.js";
export { karrasSigmas, sigmaToT } from "./sigmas.js";
export * from "./types.js";
