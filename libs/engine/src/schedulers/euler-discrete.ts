import { InvalidArgumentError } from "@longshot/core";
import { makeNoiseSchedule, trainSigmas } from "./betas.js";
import {
  asConfigObject,
  type BetaScheduleConfig,
  checkNumInferenceSteps,
  readBetaScheduleConfig,
  readBool,
  readEnum,
  readOptionalNumber,
  rejectUnsupported,
  type TimestepSpacing,
} from "./config.js";
import {
  expF32,
  f32,
  interpArange,
  logF32,
  numpyArange,
  numpyLinspace,
  roundHalfEven,
  sqrtF32,
  torchLinspaceF32,
} from "./numerics.js";
import { karrasSigmas, logSigmasF32, sigmaToT } from "./sigmas.js";
import {
  checkBeginIndex,
  checkSameLength,
  checkSample,
  checkTimestepNumber,
  indexForTimestep,
  type Scheduler,
  SchedulerStateError,
  type StepOutput,
} from "./types.js";

/** `original_sample` is diffusers' older spelling of `sample`. */
export const EULER_PREDICTION_TYPES = ["epsilon", "v_prediction", "sample", "original_sample"] as const;

export interface EulerDiscreteConfig extends BetaScheduleConfig {
  prediction_type: (typeof EULER_PREDICTION_TYPES)[number];
  interpolation_type: "linear" | "log_linear";
  use_karras_sigmas: boolean;
  sigma_min: number | null;
  sigma_max: number | null;
  timestep_type: "discrete" | "continuous";
  final_sigmas_type: "zero" | "sigma_min";
}

export function readEulerDiscreteConfig(input: unknown): EulerDiscreteConfig {
  const raw = asConfigObject(input);
  rejectUnsupported(raw, "use_exponential_sigmas", false, "only use_karras_sigmas is implemented");
  rejectUnsupported(raw, "use_beta_sigmas", false, "only use_karras_sigmas is implemented");
  return Object.freeze({
    ...readBetaScheduleConfig(raw, "linspace"),
    prediction_type: readEnum(raw, "prediction_type", "epsilon", EULER_PREDICTION_TYPES),
    interpolation_type: readEnum(raw, "interpolation_type", "linear", ["linear", "log_linear"] as const),
    use_karras_sigmas: readBool(raw, "use_karras_sigmas", false),
    sigma_min: readOptionalNumber(raw, "sigma_min", { minExclusive: 0 }),
    sigma_max: readOptionalNumber(raw, "sigma_max", { minExclusive: 0 }),
    timestep_type: readEnum(raw, "timestep_type", "discrete", ["discrete", "continuous"] as const),
    final_sigmas_type: readEnum(raw, "final_sigmas_type", "zero", ["zero", "sigma_min"] as const),
  });
}

/**
 * The float32 timesteps of the `leading` / `trailing` / `linspace` spacings as the Euler schedulers
 * compute them (`np.float32` arrays).
 */
export function eulerTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  numInferenceSteps: number,
  stepsOffset: number,
): Float32Array {
  const n = numInferenceSteps;
  if (spacing === "linspace") {
    // np.linspace(0, N - 1, n, dtype=np.float32)[::-1]
    return Float32Array.from(numpyLinspace(0, numTrainTimesteps - 1, n)).reverse();
  }
  if (spacing === "leading") {
    const ratio = Math.floor(numTrainTimesteps / n);
    // (np.arange(0, n) * ratio).round()[::-1].astype(np.float32) + steps_offset
    return Float32Array.from({ length: n }, (_, i) => f32((n - 1 - i) * ratio) + stepsOffset);
  }
  // np.arange(N, 0, -N / n).round().astype(np.float32) - 1
  const ratio = numTrainTimesteps / n;
  return Float32Array.from(numpyArange(numTrainTimesteps, 0, -ratio), (v) => roundHalfEven(v) - 1);
}

/**
 * Euler's method for the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn),
 * following diffusers 0.42.1 `EulerDiscreteScheduler` (`scheduling_euler_discrete.py`): float32 sigmas
 * interpolated (float64 `np.interp`) at float32 timesteps; optional Karras sigmas.
 */
export class EulerDiscreteScheduler implements Scheduler {
  readonly config: EulerDiscreteConfig;
  readonly order = 1;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  /** Training sigmas `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5`, indexed by timestep. */
  readonly trainSigmas: Float32Array;
  #logSigmas: Float32Array;
  #timesteps: Float32Array;
  #sigmas: Float32Array;
  #numInferenceSteps: number | null = null;
  #stepIndex: number | null = null;
  #beginIndex: number | null = null;

  constructor(config: unknown = {}) {
    this.config = readEulerDiscreteConfig(config);
    const schedule = makeNoiseSchedule(this.config, true);
    this.betas = schedule.betas;
    this.alphasCumprod = schedule.alphasCumprod;
    this.trainSigmas = trainSigmas(this.alphasCumprod);
    this.#logSigmas = logSigmasF32(this.trainSigmas);
    const nTrain = this.config.num_train_timesteps;
    const flipped = this.trainSigmas.slice().reverse();
    this.#timesteps = this.#continuous()
      ? flipped.map((s) => f32(0.25 * logF32(s)))
      : Float32Array.from({ length: nTrain }, (_, i) => nTrain - 1 - i);
    this.#sigmas = new Float32Array(nTrain + 1);
    this.#sigmas.set(flipped);
  }

  #continuous(): boolean {
    return this.config.timestep_type === "continuous" && this.config.prediction_type === "v_prediction";
  }

  get timesteps(): Float32Array {
    return this.#timesteps;
  }

  /** The sigmas of the current schedule, one more than `timesteps` (the last is the final sigma). */
  get sigmas(): Float32Array {
    return this.#sigmas;
  }

  get stepIndex(): number | null {
    return this.#stepIndex;
  }

  get numInferenceSteps(): number | null {
    return this.#numInferenceSteps;
  }

  get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.#sigmas) if (s > max) max = s;
    if (this.config.timestep_spacing === "linspace" || this.config.timestep_spacing === "trailing") return max;
    return sqrtF32(f32(f32(max * max) + 1));
  }

  setTimesteps(numInferenceSteps: number): void {
    const cfg = this.config;
    checkNumInferenceSteps(numInferenceSteps, cfg.num_train_timesteps);
    const n = numInferenceSteps;
    let timesteps: ArrayLike<number> = eulerTimesteps(
      cfg.timestep_spacing,
      cfg.num_train_timesteps,
      n,
      cfg.steps_offset,
    );
    const train = this.trainSigmas;
    let sigmas: ArrayLike<number>;
    if (cfg.interpolation_type === "linear") {
      const ts = timesteps;
      sigmas = Float64Array.from({ length: ts.length }, (_, i) => interpArange(ts[i] as number, train));
    } else {
      const lin = torchLinspaceF32(logF32(train[train.length - 1] as number), logF32(train[0] as number), n + 1);
      sigmas = lin.map(expF32);
    }
    if (cfg.use_karras_sigmas) {
      const sigmaMin = cfg.sigma_min ?? (sigmas[sigmas.length - 1] as number);
      const sigmaMax = cfg.sigma_max ?? (sigmas[0] as number);
      const karras = karrasSigmas(sigmaMin, sigmaMax, n);
      sigmas = karras;
      timesteps = Float64Array.from(karras, (s) => sigmaToT(s, this.#logSigmas));
    }
    const sigmaLast =
      cfg.final_sigmas_type === "sigma_min"
        ? sqrtF32(f32(f32(1 - (this.alphasCumprod[0] as number)) / (this.alphasCumprod[0] as number)))
        : 0;
    const all = new Float32Array(sigmas.length + 1);
    for (let i = 0; i < sigmas.length; i++) all[i] = sigmas[i] as number;
    all[sigmas.length] = sigmaLast;
    this.#sigmas = all;
    this.#timesteps = this.#continuous()
      ? all.subarray(0, all.length - 1).map((s) => f32(0.25 * logF32(s)))
      : Float32Array.from(timesteps);
    this.#numInferenceSteps = n;
    this.#stepIndex = null;
    this.#beginIndex = null;
  }

  setBeginIndex(beginIndex: number): void {
    checkBeginIndex(beginIndex, this.#timesteps.length);
    this.#beginIndex = beginIndex;
  }

  #indexOf(timestep: number): number {
    checkTimestepNumber(timestep);
    const i = indexForTimestep(this.#timesteps, f32(timestep));
    if (i < 0) {
      throw new InvalidArgumentError("timestep", `${timestep} is not one of this scheduler's timesteps`);
    }
    return i;
  }

  #initStepIndex(timestep: number): number {
    if (this.#stepIndex === null) this.#stepIndex = this.#beginIndex ?? this.#indexOf(timestep);
    return this.#stepIndex;
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    checkSample(sample);
    const si = this.#initStepIndex(timestep);
    const sigma = this.#sigmas[si] as number;
    const denom = sqrtF32(f32(f32(sigma * sigma) + 1));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = (sample[i] as number) / denom;
    return out;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): StepOutput {
    checkSample(sample);
    checkSameLength("model_output", modelOutput, sample);
    const si = this.#initStepIndex(timestep);
    if (si + 1 >= this.#sigmas.length) {
      throw new SchedulerStateError(
        `Euler step: all ${this.#timesteps.length} timesteps are done; call setTimesteps again`,
      );
    }
    const sigma = this.#sigmas[si] as number;
    const sigmaHat = sigma; // s_churn = 0: gamma = 0
    const n = sample.length;
    const x0 = new Float32Array(n);
    switch (this.config.prediction_type) {
      case "epsilon":
        for (let i = 0; i < n; i++) x0[i] = (sample[i] as number) - f32(sigmaHat * (modelOutput[i] as number));
        break;
      case "v_prediction": {
        const sigmaSqPlus1 = f32(f32(sigma * sigma) + 1);
        const c = f32(-sigma / sqrtF32(sigmaSqPlus1));
        for (let i = 0; i < n; i++) {
          x0[i] = f32((modelOutput[i] as number) * c) + f32((sample[i] as number) / sigmaSqPlus1);
        }
        break;
      }
      default:
        x0.set(modelOutput);
    }
    const dt = f32((this.#sigmas[si + 1] as number) - sigmaHat);
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i] as number;
      const derivative = f32(f32(x - (x0[i] as number)) / sigmaHat);
      prev[i] = x + f32(derivative * dt);
    }
    this.#stepIndex = si + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkSample(original);
    checkSameLength("noise", noise, original);
    const si = this.#beginIndex === null ? this.#indexOf(timestep) : (this.#stepIndex ?? this.#beginIndex);
    const sigma = this.#sigmas[si] as number;
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = (original[i] as number) + f32((noise[i] as number) * sigma);
    return out;
  }
}
