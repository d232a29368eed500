import { InvalidArgumentError } from "@longshot/core";
import { makeNoiseSchedule, trainSigmas } from "./betas.js";
import {
  asConfigObject,
  type BetaScheduleConfig,
  checkNumInferenceSteps,
  readBetaScheduleConfig,
  readBool,
  readEnum,
  readInt,
  readOptionalNumber,
  rejectUnsupported,
  type SchedulerConfigInput,
} from "./config.js";
import { expF32, f32, interpArange, logF32, numpyArange, numpyLinspace, roundHalfEven, sqrtF32 } from "./numerics.js";
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

export const DPM_PREDICTION_TYPES = ["epsilon", "sample", "v_prediction"] as const;

export interface DPMSolverMultistepConfig extends BetaScheduleConfig {
  solver_order: 1 | 2 | 3;
  prediction_type: (typeof DPM_PREDICTION_TYPES)[number];
  algorithm_type: "dpmsolver++";
  solver_type: "midpoint" | "heun";
  lower_order_final: boolean;
  euler_at_final: boolean;
  use_karras_sigmas: boolean;
  final_sigmas_type: "zero" | "sigma_min";
  /** -Infinity (JSON `null`) means no clipping. */
  lambda_min_clipped: number;
}

function readAlgorithmType(raw: SchedulerConfigInput): "dpmsolver++" {
  const v = readEnum(raw, "algorithm_type", "dpmsolver++", [
    "dpmsolver++",
    "deis",
    "dpmsolver",
    "sde-dpmsolver",
    "sde-dpmsolver++",
  ] as const);
  // diffusers maps a DEIS config onto dpmsolver++ (`register_to_config(algorithm_type="dpmsolver++")`).
  if (v === "dpmsolver++" || v === "deis") return "dpmsolver++";
  throw new InvalidArgumentError(
    "algorithm_type",
    `"${v}" is not supported: only the deterministic data-prediction solver "dpmsolver++" is implemented`,
  );
}

function readSolverType(raw: SchedulerConfigInput): "midpoint" | "heun" {
  const v = readEnum(raw, "solver_type", "midpoint", ["midpoint", "heun", "logrho", "bh1", "bh2"] as const);
  // diffusers maps DEIS/UniPC solver types onto midpoint.
  return v === "heun" ? "heun" : "midpoint";
}

export function readDPMSolverMultistepConfig(input: unknown): DPMSolverMultistepConfig {
  const raw = asConfigObject(input);
  rejectUnsupported(raw, "thresholding", false, "dynamic thresholding is for pixel-space models, not latents");
  rejectUnsupported(raw, "use_exponential_sigmas", false, "only use_karras_sigmas is implemented");
  rejectUnsupported(raw, "use_beta_sigmas", false, "only use_karras_sigmas is implemented");
  rejectUnsupported(raw, "use_lu_lambdas", false, "only use_karras_sigmas is implemented");
  rejectUnsupported(raw, "use_flow_sigmas", false, "flow-matching models are not supported");
  rejectUnsupported(raw, "use_dynamic_shifting", false, "flow-matching models are not supported");
  rejectUnsupported(raw, "variance_type", null, "learned-variance model outputs are not supported");
  const lambdaMin = readOptionalNumber(raw, "lambda_min_clipped");
  return Object.freeze({
    ...readBetaScheduleConfig(raw, "linspace"),
    solver_order: readInt(raw, "solver_order", 2, { min: 1, max: 3 }) as 1 | 2 | 3,
    prediction_type: readEnum(raw, "prediction_type", "epsilon", DPM_PREDICTION_TYPES),
    algorithm_type: readAlgorithmType(raw),
    solver_type: readSolverType(raw),
    lower_order_final: readBool(raw, "lower_order_final", true),
    euler_at_final: readBool(raw, "euler_at_final", false),
    use_karras_sigmas: readBool(raw, "use_karras_sigmas", false),
    final_sigmas_type: readEnum(raw, "final_sigmas_type", "zero", ["zero", "sigma_min"] as const),
    lambda_min_clipped: lambdaMin ?? Number.NEGATIVE_INFINITY,
  });
}

/** `_sigma_to_alpha_sigma_t` in float32: alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t. */
function alphaSigma(sigma: number): [alpha: number, sigma: number] {
  const alpha = f32(1 / sqrtF32(f32(f32(sigma * sigma) + 1)));
  return [alpha, f32(sigma * alpha)];
}

/** lambda = log(alpha) - log(sigma), float32. */
function lambdaOf(alpha: number, sigma: number): number {
  return f32(logF32(alpha) - logF32(sigma));
}

/**
 * DPM-Solver++ multistep (arXiv 2211.01095), following diffusers 0.42.1 `DPMSolverMultistepScheduler`
 * (`scheduling_dpmsolver_multistep.py`) with `algorithm_type="dpmsolver++"`: the model output is turned
 * into an x0 prediction, and steps 2.. use the previous x0 predictions (order `solver_order`, 2 = "2M").
 * With `lower_order_final` the last steps fall back to lower orders, as diffusers does.
 */
export class DPMSolverMultistepScheduler implements Scheduler {
  readonly config: DPMSolverMultistepConfig;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  readonly trainSigmas: Float32Array;
  /** log(alpha_t) - log(sigma_t) per training timestep, float32. */
  readonly lambdaT: Float32Array;
  #logSigmas: Float32Array;
  #timesteps: number[];
  #sigmas: Float32Array;
  #numInferenceSteps: number | null = null;
  #stepIndex: number | null = null;
  #beginIndex: number | null = null;
  #modelOutputs: (Float32Array | null)[];
  #lowerOrderNums = 0;

  constructor(config: unknown = {}) {
    this.config = readDPMSolverMultistepConfig(config);
    const schedule = makeNoiseSchedule(this.config, true);
    this.betas = schedule.betas;
    this.alphasCumprod = schedule.alphasCumprod;
    this.trainSigmas = trainSigmas(this.alphasCumprod);
    this.#logSigmas = logSigmasF32(this.trainSigmas);
    const nTrain = this.config.num_train_timesteps;
    this.lambdaT = new Float32Array(nTrain);
    for (let i = 0; i < nTrain; i++) {
      const a = this.alphasCumprod[i] as number;
      this.lambdaT[i] = lambdaOf(sqrtF32(a), sqrtF32(f32(1 - a)));
    }
    this.#timesteps = Array.from({ length: nTrain }, (_, i) => nTrain - 1 - i);
    this.#sigmas = this.trainSigmas.slice();
    this.#modelOutputs = new Array<Float32Array | null>(this.config.solver_order).fill(null);
  }

  get timesteps(): number[] {
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

  setTimesteps(numInferenceSteps: number): void {
    const cfg = this.config;
    const nTrain = cfg.num_train_timesteps;
    checkNumInferenceSteps(numInferenceSteps, nTrain);
    const n = numInferenceSteps;
    // torch.searchsorted(torch.flip(lambda_t, [0]), lambda_min_clipped): count of flipped values < it.
    let clippedIdx = 0;
    for (let i = nTrain - 1; i >= 0; i--) if ((this.lambdaT[i] as number) < cfg.lambda_min_clipped) clippedIdx++;
    const lastTimestep = nTrain - clippedIdx;
    let timesteps: number[];
    if (cfg.timestep_spacing === "linspace") {
      timesteps = Array.from(numpyLinspace(0, lastTimestep - 1, n + 1), roundHalfEven)
        .reverse()
        .slice(0, n);
    } else if (cfg.timestep_spacing === "leading") {
      const ratio = Math.floor(lastTimestep / (n + 1));
      timesteps = Array.from({ length: n }, (_, i) => (n - i) * ratio + cfg.steps_offset);
    } else {
      const ratio = nTrain / n;
      timesteps = Array.from(numpyArange(lastTimestep, 0, -ratio), (v) => roundHalfEven(v) - 1);
    }
    let sigmas: ArrayLike<number>;
    if (cfg.use_karras_sigmas) {
      const flipped = this.trainSigmas.slice().reverse();
      const karras = karrasSigmas(flipped[flipped.length - 1] as number, flipped[0] as number, n);
      sigmas = karras;
      const round = cfg.beta_schedule !== "squaredcos_cap_v2";
      // float timesteps; `.to(torch.int64)` truncates toward zero
      timesteps = Array.from(karras, (s) => {
        const t = sigmaToT(s, this.#logSigmas);
        return round ? roundHalfEven(t) : Math.trunc(t);
      });
    } else {
      const ts = timesteps;
      sigmas = Float64Array.from({ length: ts.length }, (_, i) => interpArange(ts[i] as number, this.trainSigmas));
    }
    const sigmaLast =
      cfg.final_sigmas_type === "sigma_min"
        ? sqrtF32(f32(f32(1 - (this.alphasCumprod[0] as number)) / (this.alphasCumprod[0] as number)))
        : 0;
    const all = new Float32Array(sigmas.length + 1);
    for (let i = 0; i < sigmas.length; i++) all[i] = sigmas[i] as number;
    all[sigmas.length] = sigmaLast;
    const bad = timesteps.find((t) => t < 0 || t >= nTrain);
    if (bad !== undefined) {
      throw new InvalidArgumentError(
        "steps_offset",
        `with ${n} steps and steps_offset ${cfg.steps_offset}, timestep ${bad} falls outside [0, ${nTrain - 1}]`,
      );
    }
    this.#sigmas = all;
    this.#timesteps = timesteps;
    this.#numInferenceSteps = timesteps.length;
    this.#modelOutputs = new Array<Float32Array | null>(cfg.solver_order).fill(null);
    this.#lowerOrderNums = 0;
    this.#stepIndex = null;
    this.#beginIndex = null;
  }

  setBeginIndex(beginIndex: number): void {
    checkBeginIndex(beginIndex, this.#timesteps.length);
    this.#beginIndex = beginIndex;
  }

  /** DPM-Solver does not scale the model input; returns `sample` itself. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    checkSample(sample);
    checkTimestepNumber(timestep);
    return sample;
  }

  /** diffusers' `index_for_timestep` here: a timestep not in the schedule maps to the last index. */
  #indexOf(timestep: number): number {
    checkTimestepNumber(timestep);
    const i = indexForTimestep(this.#timesteps, timestep);
    return i >= 0 ? i : this.#timesteps.length - 1;
  }

  /** `convert_model_output` for dpmsolver++: the x0 prediction. */
  #convertModelOutput(modelOutput: Float32Array, sample: Float32Array, si: number): Float32Array {
    const n = sample.length;
    const x0 = new Float32Array(n);
    if (this.config.prediction_type === "sample") {
      x0.set(modelOutput);
      return x0;
    }
    const [alphaT, sigmaT] = alphaSigma(this.#sigmas[si] as number);
    if (this.config.prediction_type === "epsilon") {
      for (let i = 0; i < n; i++) {
        x0[i] = f32((sample[i] as number) - f32(sigmaT * (modelOutput[i] as number))) / alphaT;
      }
    } else {
      for (let i = 0; i < n; i++) {
        x0[i] = f32(alphaT * (sample[i] as number)) - f32(sigmaT * (modelOutput[i] as number));
      }
    }
    return x0;
  }

  #firstOrderUpdate(m0: Float32Array, sample: Float32Array, si: number): Float32Array {
    const [alphaT, sigmaT] = alphaSigma(this.#sigmas[si + 1] as number);
    const [alphaS, sigmaS] = alphaSigma(this.#sigmas[si] as number);
    const h = f32(lambdaOf(alphaT, sigmaT) - lambdaOf(alphaS, sigmaS));
    const cx = f32(sigmaT / sigmaS);
    const cm = f32(alphaT * f32(expF32(-h) - 1));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = f32(cx * (sample[i] as number)) - f32(cm * (m0[i] as number));
    }
    return out;
  }

  #secondOrderUpdate(m0: Float32Array, m1: Float32Array, sample: Float32Array, si: number): Float32Array {
    const [alphaT, sigmaT] = alphaSigma(this.#sigmas[si + 1] as number);
    const [alphaS0, sigmaS0] = alphaSigma(this.#sigmas[si] as number);
    const [alphaS1, sigmaS1] = alphaSigma(this.#sigmas[si - 1] as number);
    const lambdaT = lambdaOf(alphaT, sigmaT);
    const lambdaS0 = lambdaOf(alphaS0, sigmaS0);
    const lambdaS1 = lambdaOf(alphaS1, sigmaS1);
    const h = f32(lambdaT - lambdaS0);
    const h0 = f32(lambdaS0 - lambdaS1);
    const r0 = f32(h0 / h);
    const invR0 = f32(1 / r0);
    const cx = f32(sigmaT / sigmaS0);
    const expm1 = f32(expF32(-h) - 1);
    const c0 = f32(alphaT * expm1);
    const out = new Float32Array(sample.length);
    if (this.config.solver_type === "midpoint") {
      // x_t = sigma_t/sigma_s0 * x - alpha_t*(e^-h - 1) * D0 - 0.5*(alpha_t*(e^-h - 1)) * D1
      const c1 = f32(0.5 * c0);
      for (let i = 0; i < out.length; i++) {
        const a = m0[i] as number;
        const d1 = f32(invR0 * f32(a - (m1[i] as number)));
        out[i] = f32(f32(cx * (sample[i] as number)) - f32(c0 * a)) - f32(c1 * d1);
      }
    } else {
      // x_t = sigma_t/sigma_s0 * x - alpha_t*(e^-h - 1) * D0 + alpha_t*((e^-h - 1)/h + 1) * D1
      const c1 = f32(alphaT * f32(f32(expm1 / h) + 1));
      for (let i = 0; i < out.length; i++) {
        const a = m0[i] as number;
        const d1 = f32(invR0 * f32(a - (m1[i] as number)));
        out[i] = f32(f32(cx * (sample[i] as number)) - f32(c0 * a)) + f32(c1 * d1);
      }
    }
    return out;
  }

  #thirdOrderUpdate(
    m0: Float32Array,
    m1: Float32Array,
    m2: Float32Array,
    sample: Float32Array,
    si: number,
  ): Float32Array {
    const [alphaT, sigmaT] = alphaSigma(this.#sigmas[si + 1] as number);
    const [alphaS0, sigmaS0] = alphaSigma(this.#sigmas[si] as number);
    const [alphaS1, sigmaS1] = alphaSigma(this.#sigmas[si - 1] as number);
    const [alphaS2, sigmaS2] = alphaSigma(this.#sigmas[si - 2] as number);
    const lambdaT = lambdaOf(alphaT, sigmaT);
    const lambdaS0 = lambdaOf(alphaS0, sigmaS0);
    const lambdaS1 = lambdaOf(alphaS1, sigmaS1);
    const lambdaS2 = lambdaOf(alphaS2, sigmaS2);
    const h = f32(lambdaT - lambdaS0);
    const h0 = f32(lambdaS0 - lambdaS1);
    const h1 = f32(lambdaS1 - lambdaS2);
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const invR0 = f32(1 / r0);
    const invR1 = f32(1 / r1);
    const r0Sum = f32(r0 + r1);
    const cD1 = f32(r0 / r0Sum);
    const cD2 = f32(1 / r0Sum);
    const cx = f32(sigmaT / sigmaS0);
    const expm1 = f32(expF32(-h) - 1);
    const c0 = f32(alphaT * expm1);
    const c1 = f32(alphaT * f32(f32(expm1 / h) + 1));
    const c2 = f32(alphaT * f32(f32(f32(expm1 + h) / f32(h * h)) - 0.5));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const a = m0[i] as number;
      const b = m1[i] as number;
      const d10 = f32(invR0 * f32(a - b));
      const d11 = f32(invR1 * f32(b - (m2[i] as number)));
      const diff = f32(d10 - d11);
      const d1 = f32(d10 + f32(cD1 * diff));
      const d2 = f32(cD2 * diff);
      out[i] = f32(f32(f32(cx * (sample[i] as number)) - f32(c0 * a)) + f32(c1 * d1)) - f32(c2 * d2);
    }
    return out;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): StepOutput {
    if (this.#numInferenceSteps === null) {
      throw new SchedulerStateError("DPM-Solver step: call setTimesteps(numInferenceSteps) first");
    }
    checkSample(sample);
    checkSameLength("model_output", modelOutput, sample);
    if (this.#stepIndex === null) this.#stepIndex = this.#beginIndex ?? this.#indexOf(timestep);
    const si = this.#stepIndex;
    const len = this.#timesteps.length;
    if (si >= len) {
      throw new SchedulerStateError(`DPM-Solver step: all ${len} timesteps are done; call setTimesteps again`);
    }
    const cfg = this.config;
    const lowerOrderFinal =
      si === len - 1 && (cfg.euler_at_final || (cfg.lower_order_final && len < 15) || cfg.final_sigmas_type === "zero");
    const lowerOrderSecond = si === len - 2 && cfg.lower_order_final && len < 15;

    const x0 = this.#convertModelOutput(modelOutput, sample, si);
    const outs = this.#modelOutputs;
    for (let i = 0; i < cfg.solver_order - 1; i++) outs[i] = outs[i + 1] ?? null;
    outs[cfg.solver_order - 1] = x0;

    let prev: Float32Array;
    const m = (k: number): Float32Array => {
      const v = outs[cfg.solver_order - 1 - k];
      if (!v) throw new SchedulerStateError(`DPM-Solver step: model output ${k} steps back is missing`);
      return v;
    };
    if (cfg.solver_order === 1 || this.#lowerOrderNums < 1 || lowerOrderFinal) {
      prev = this.#firstOrderUpdate(x0, sample, si);
    } else if (cfg.solver_order === 2 || this.#lowerOrderNums < 2 || lowerOrderSecond) {
      prev = this.#secondOrderUpdate(m(0), m(1), sample, si);
    } else {
      prev = this.#thirdOrderUpdate(m(0), m(1), m(2), sample, si);
    }
    if (this.#lowerOrderNums < cfg.solver_order) this.#lowerOrderNums += 1;
    this.#stepIndex = si + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkSample(original);
    checkSameLength("noise", noise, original);
    const si = this.#beginIndex === null ? this.#indexOf(timestep) : (this.#stepIndex ?? this.#beginIndex);
    const [alphaT, sigmaT] = alphaSigma(this.#sigmas[si] as number);
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = f32(alphaT * (original[i] as number)) + f32(sigmaT * (noise[i] as number));
    }
    return out;
  }
}
