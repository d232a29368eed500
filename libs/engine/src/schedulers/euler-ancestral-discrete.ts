import { InvalidArgumentError } from "@longshot/core";
import { makeNoiseSchedule, trainSigmas } from "./betas.js";
import {
  asConfigObject,
  type BetaScheduleConfig,
  checkNumInferenceSteps,
  readBetaScheduleConfig,
  readEnum,
} from "./config.js";
import { eulerTimesteps } from "./euler-discrete.js";
import { f32, interpArange, sqrtF32 } from "./numerics.js";
import {
  checkBeginIndex,
  checkSameLength,
  checkSample,
  checkTimestepNumber,
  indexForTimestep,
  type Scheduler,
  SchedulerStateError,
  type StepOptions,
  type StepOutput,
} from "./types.js";

/** diffusers raises NotImplementedError for `sample` prediction in this scheduler; so does this one, up front. */
export const EULER_ANCESTRAL_PREDICTION_TYPES = ["epsilon", "v_prediction"] as const;

export interface EulerAncestralDiscreteConfig extends BetaScheduleConfig {
  prediction_type: (typeof EULER_ANCESTRAL_PREDICTION_TYPES)[number];
}

export function readEulerAncestralDiscreteConfig(input: unknown): EulerAncestralDiscreteConfig {
  const raw = asConfigObject(input);
  return Object.freeze({
    ...readBetaScheduleConfig(raw, "linspace"),
    prediction_type: readEnum(raw, "prediction_type", "epsilon", EULER_ANCESTRAL_PREDICTION_TYPES),
  });
}

/**
 * Euler-ancestral sampling (k-diffusion `sample_euler_ancestral`, eta = 1), following diffusers 0.42.1
 * `EulerAncestralDiscreteScheduler` (`scheduling_euler_ancestral_discrete.py`). Every step adds fresh
 * noise, which the caller supplies as `opts.noise` (standard normal, the sample's size).
 */
export class EulerAncestralDiscreteScheduler implements Scheduler {
  readonly config: EulerAncestralDiscreteConfig;
  readonly order = 1;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  readonly trainSigmas: Float32Array;
  #timesteps: Float32Array;
  #sigmas: Float32Array;
  #numInferenceSteps: number | null = null;
  #stepIndex: number | null = null;
  #beginIndex: number | null = null;

  constructor(config: unknown = {}) {
    this.config = readEulerAncestralDiscreteConfig(config);
    const schedule = makeNoiseSchedule(this.config, true);
    this.betas = schedule.betas;
    this.alphasCumprod = schedule.alphasCumprod;
    this.trainSigmas = trainSigmas(this.alphasCumprod);
    const nTrain = this.config.num_train_timesteps;
    this.#sigmas = new Float32Array(nTrain + 1);
    this.#sigmas.set(this.trainSigmas.slice().reverse());
    this.#timesteps = Float32Array.from({ length: nTrain }, (_, i) => nTrain - 1 - i);
  }

  get timesteps(): Float32Array {
    return this.#timesteps;
  }

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
    const ts = eulerTimesteps(cfg.timestep_spacing, cfg.num_train_timesteps, numInferenceSteps, cfg.steps_offset);
    const sigmas = new Float32Array(ts.length + 1);
    for (let i = 0; i < ts.length; i++) sigmas[i] = interpArange(ts[i] as number, this.trainSigmas);
    this.#sigmas = sigmas;
    this.#timesteps = ts;
    this.#numInferenceSteps = numInferenceSteps;
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

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, opts: StepOptions = {}): StepOutput {
    checkSample(sample);
    checkSameLength("model_output", modelOutput, sample);
    const noise = opts.noise;
    if (noise === undefined) {
      throw new InvalidArgumentError(
        "noise",
        "Euler-ancestral adds noise at every step: pass a standard-normal array of the sample's size",
      );
    }
    checkSameLength("noise", noise, sample);
    const si = this.#initStepIndex(timestep);
    if (si + 1 >= this.#sigmas.length) {
      throw new SchedulerStateError(
        `Euler-ancestral step: all ${this.#timesteps.length} timesteps are done; call setTimesteps again`,
      );
    }
    const sigma = this.#sigmas[si] as number;
    const n = sample.length;
    const x0 = new Float32Array(n);
    if (this.config.prediction_type === "epsilon") {
      for (let i = 0; i < n; i++) x0[i] = (sample[i] as number) - f32(sigma * (modelOutput[i] as number));
    } else {
      const sigmaSqPlus1 = f32(f32(sigma * sigma) + 1);
      const c = f32(-sigma / sqrtF32(sigmaSqPlus1));
      for (let i = 0; i < n; i++) {
        x0[i] = f32((modelOutput[i] as number) * c) + f32((sample[i] as number) / sigmaSqPlus1);
      }
    }
    const sigmaFrom = sigma;
    const sigmaTo = this.#sigmas[si + 1] as number;
    const fromSq = f32(sigmaFrom * sigmaFrom);
    const toSq = f32(sigmaTo * sigmaTo);
    const sigmaUp = sqrtF32(f32(f32(toSq * f32(fromSq - toSq)) / fromSq));
    const sigmaDown = sqrtF32(f32(toSq - f32(sigmaUp * sigmaUp)));
    const dt = f32(sigmaDown - sigma);
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i] as number;
      const derivative = f32(f32(x - (x0[i] as number)) / sigma);
      const p = f32(x + f32(derivative * dt));
      prev[i] = p + f32((noise[i] as number) * sigmaUp);
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
