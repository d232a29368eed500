import { InvalidArgumentError } from "@longshot/core";
import { makeNoiseSchedule } from "./betas.js";
import {
  asConfigObject,
  type BetaScheduleConfig,
  checkNumInferenceSteps,
  readBetaScheduleConfig,
  readBool,
  readEnum,
  readNumber,
  rejectUnsupported,
} from "./config.js";
import { f32, numpyArange, numpyLinspace, roundHalfEven, sqrtF32 } from "./numerics.js";
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

export const DDIM_PREDICTION_TYPES = ["epsilon", "sample", "v_prediction"] as const;

export interface DDIMConfig extends BetaScheduleConfig {
  prediction_type: (typeof DDIM_PREDICTION_TYPES)[number];
  clip_sample: boolean;
  clip_sample_range: number;
  set_alpha_to_one: boolean;
}

/** Reads and validates a DDIM configuration (defaults as in diffusers' `DDIMScheduler.__init__`). */
export function readDDIMConfig(input: unknown): DDIMConfig {
  const raw = asConfigObject(input);
  rejectUnsupported(raw, "thresholding", false, "dynamic thresholding is for pixel-space models, not latents");
  return Object.freeze({
    ...readBetaScheduleConfig(raw, "leading"),
    prediction_type: readEnum(raw, "prediction_type", "epsilon", DDIM_PREDICTION_TYPES),
    clip_sample: readBool(raw, "clip_sample", true),
    clip_sample_range: readNumber(raw, "clip_sample_range", 1, { min: Number.MIN_VALUE }),
    set_alpha_to_one: readBool(raw, "set_alpha_to_one", true),
  });
}

/**
 * DDIM (arXiv 2010.02502), following diffusers 0.42.1 `DDIMScheduler` (`scheduling_ddim.py`): integer
 * timesteps, float32 arithmetic as torch does it. `eta > 0` (DDPM-like sampling) needs `opts.noise`.
 */
export class DDIMScheduler implements Scheduler {
  readonly config: DDIMConfig;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  readonly finalAlphaCumprod: number;
  #timesteps: number[];
  #numInferenceSteps: number | null = null;
  #stepIndex: number | null = null;
  #beginIndex: number | null = null;

  constructor(config: unknown = {}) {
    this.config = readDDIMConfig(config);
    const schedule = makeNoiseSchedule(this.config, false);
    this.betas = schedule.betas;
    this.alphasCumprod = schedule.alphasCumprod;
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : (this.alphasCumprod[0] as number);
    const n = this.config.num_train_timesteps;
    this.#timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
  }

  get timesteps(): number[] {
    return this.#timesteps;
  }

  get stepIndex(): number | null {
    return this.#stepIndex;
  }

  get numInferenceSteps(): number | null {
    return this.#numInferenceSteps;
  }

  setTimesteps(numInferenceSteps: number): void {
    const { num_train_timesteps: nTrain, timestep_spacing: spacing, steps_offset: offset } = this.config;
    checkNumInferenceSteps(numInferenceSteps, nTrain);
    const n = numInferenceSteps;
    let ts: number[];
    if (spacing === "linspace") {
      ts = Array.from(numpyLinspace(0, nTrain - 1, n), roundHalfEven).reverse();
    } else if (spacing === "leading") {
      const ratio = Math.floor(nTrain / n);
      ts = Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + offset);
    } else {
      const ratio = nTrain / n;
      ts = Array.from(numpyArange(nTrain, 0, -ratio), (v) => roundHalfEven(v) - 1);
    }
    const bad = ts.find((t) => t < 0 || t >= nTrain);
    if (bad !== undefined) {
      throw new InvalidArgumentError(
        "steps_offset",
        `with ${n} steps and steps_offset ${offset}, timestep ${bad} falls outside [0, ${nTrain - 1}]`,
      );
    }
    this.#timesteps = ts;
    this.#numInferenceSteps = n;
    this.#stepIndex = null;
    this.#beginIndex = null;
  }

  setBeginIndex(beginIndex: number): void {
    checkBeginIndex(beginIndex, this.#timesteps.length);
    this.#beginIndex = beginIndex;
    this.#stepIndex = null;
  }

  /** DDIM does not scale the model input; returns `sample` itself. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    checkSample(sample);
    checkTimestepNumber(timestep);
    return sample;
  }

  #checkTrainTimestep(timestep: number): void {
    checkTimestepNumber(timestep);
    if (!Number.isInteger(timestep) || timestep < 0 || timestep >= this.config.num_train_timesteps) {
      throw new InvalidArgumentError(
        "timestep",
        `DDIM timesteps are integers in [0, ${this.config.num_train_timesteps - 1}], got ${timestep}`,
      );
    }
  }

  /** `(beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)`, float32. */
  #variance(alphaProdT: number, alphaProdTPrev: number): number {
    const betaProdT = f32(1 - alphaProdT);
    const betaProdTPrev = f32(1 - alphaProdTPrev);
    return f32(f32(betaProdTPrev / betaProdT) * f32(1 - f32(alphaProdT / alphaProdTPrev)));
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, opts: StepOptions = {}): StepOutput {
    if (this.#numInferenceSteps === null) {
      throw new SchedulerStateError("DDIM step: call setTimesteps(numInferenceSteps) first");
    }
    checkSample(sample);
    checkSameLength("model_output", modelOutput, sample);
    this.#checkTrainTimestep(timestep);
    const eta = opts.eta ?? 0;
    if (typeof eta !== "number" || !Number.isFinite(eta) || eta < 0) {
      throw new InvalidArgumentError("eta", `must be a finite number >= 0, got ${String(eta)}`);
    }
    const noise = opts.noise;
    if (eta > 0) {
      if (noise === undefined) {
        throw new InvalidArgumentError(
          "noise",
          "DDIM with eta > 0 needs noise (a standard-normal array of the sample's size)",
        );
      }
      checkSameLength("noise", noise, sample);
    }
    if (this.#stepIndex === null) {
      const found = indexForTimestep(this.#timesteps, timestep);
      this.#stepIndex = this.#beginIndex ?? Math.max(found, 0);
    }

    const cfg = this.config;
    const prevTimestep = timestep - Math.floor(cfg.num_train_timesteps / this.#numInferenceSteps);
    const alphaProdT = this.alphasCumprod[timestep] as number;
    const alphaProdTPrev = prevTimestep >= 0 ? (this.alphasCumprod[prevTimestep] as number) : this.finalAlphaCumprod;
    const betaProdT = f32(1 - alphaProdT);
    const sqrtAlphaProdT = sqrtF32(alphaProdT);
    const sqrtBetaProdT = sqrtF32(betaProdT);

    const n = sample.length;
    const x0 = new Float32Array(n);
    const eps = new Float32Array(n);
    switch (cfg.prediction_type) {
      case "epsilon":
        for (let i = 0; i < n; i++) {
          const m = modelOutput[i] as number;
          x0[i] = f32((sample[i] as number) - f32(sqrtBetaProdT * m)) / sqrtAlphaProdT;
          eps[i] = m;
        }
        break;
      case "sample":
        for (let i = 0; i < n; i++) {
          const m = modelOutput[i] as number;
          x0[i] = m;
          eps[i] = f32((sample[i] as number) - f32(sqrtAlphaProdT * m)) / sqrtBetaProdT;
        }
        break;
      case "v_prediction":
        for (let i = 0; i < n; i++) {
          const m = modelOutput[i] as number;
          const x = sample[i] as number;
          x0[i] = f32(sqrtAlphaProdT * x) - f32(sqrtBetaProdT * m);
          eps[i] = f32(sqrtAlphaProdT * m) + f32(sqrtBetaProdT * x);
        }
        break;
    }
    if (cfg.clip_sample) {
      const r = f32(cfg.clip_sample_range);
      for (let i = 0; i < n; i++) x0[i] = Math.min(Math.max(x0[i] as number, -r), r);
    }
    const variance = this.#variance(alphaProdT, alphaProdTPrev);
    const stdDevT = f32(f32(eta) * sqrtF32(variance));
    if (opts.useClippedModelOutput === true) {
      for (let i = 0; i < n; i++) {
        eps[i] = f32((sample[i] as number) - f32(sqrtAlphaProdT * (x0[i] as number))) / sqrtBetaProdT;
      }
    }
    const dirCoef = sqrtF32(f32(f32(1 - alphaProdTPrev) - f32(stdDevT * stdDevT)));
    const sqrtAlphaProdTPrev = sqrtF32(alphaProdTPrev);
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = f32(sqrtAlphaProdTPrev * (x0[i] as number)) + f32(dirCoef * (eps[i] as number));
    }
    if (eta > 0 && noise !== undefined) {
      for (let i = 0; i < n; i++) prev[i] = (prev[i] as number) + f32(stdDevT * (noise[i] as number));
    }
    this.#stepIndex += 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkSample(original);
    checkSameLength("noise", noise, original);
    this.#checkTrainTimestep(timestep);
    const a = this.alphasCumprod[timestep] as number;
    const sqrtAlpha = sqrtF32(a);
    const sqrtOneMinusAlpha = sqrtF32(f32(1 - a));
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = f32(sqrtAlpha * (original[i] as number)) + f32(sqrtOneMinusAlpha * (noise[i] as number));
    }
    return out;
  }
}
