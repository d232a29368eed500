import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { makeBetas } from "./betas.js";
import { readBetaScheduleConfig } from "./config.js";
import { DDIMScheduler } from "./ddim.js";
import { DPMSolverMultistepScheduler } from "./dpm-solver-multistep.js";
import { EulerAncestralDiscreteScheduler } from "./euler-ancestral-discrete.js";
import { EulerDiscreteScheduler } from "./euler-discrete.js";
import { createScheduler, SCHEDULER_NAMES } from "./factory.js";
import { SchedulerStateError } from "./types.js";

const SD = {
  _class_name: "PNDMScheduler",
  _diffusers_version: "0.6.0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

function invalid(field: string) {
  return (e: unknown): boolean => e instanceof InvalidArgumentError && e.field === field;
}

function ramp(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * scale);
}

describe("scheduler configuration", () => {
  for (const name of SCHEDULER_NAMES) {
    it(`${name}: reads a Stable Diffusion scheduler_config.json, ignoring keys it does not know`, () => {
      const s = createScheduler(name, SD);
      s.setTimesteps(10);
      assert.equal(s.timesteps.length, 10);
      assert.equal(s.numInferenceSteps, 10);
      assert.equal(s.order, 1);
      assert.equal((s.config as { beta_schedule: string }).beta_schedule, "scaled_linear");
      assert.ok(Object.isFrozen(s.config));
    });

    it(`${name}: rejects an unknown beta_schedule, naming the key`, () => {
      assert.throws(() => createScheduler(name, { ...SD, beta_schedule: "sigmoid" }), invalid("beta_schedule"));
    });

    it(`${name}: rejects step counts < 1, fractional or > num_train_timesteps`, () => {
      const s = createScheduler(name, SD);
      for (const n of [0, -3, 2.5, 1001, Number.NaN]) {
        assert.throws(() => s.setTimesteps(n), invalid("num_inference_steps"), `steps ${n}`);
      }
      s.setTimesteps(1000 - 1);
    });

    it(`${name}: rejects ill-typed known keys`, () => {
      assert.throws(() => createScheduler(name, { num_train_timesteps: "1000" }), invalid("num_train_timesteps"));
      assert.throws(() => createScheduler(name, { beta_start: -0.1 }), invalid("beta_start"));
      assert.throws(() => createScheduler(name, { beta_end: 1 }), invalid("beta_end"));
      assert.throws(() => createScheduler(name, { timestep_spacing: "uniform" }), invalid("timestep_spacing"));
      assert.throws(() => createScheduler(name, { steps_offset: 0.5 }), invalid("steps_offset"));
      assert.throws(() => createScheduler(name, { prediction_type: "noise" }), invalid("prediction_type"));
      assert.throws(() => createScheduler(name, { rescale_betas_zero_snr: "yes" }), invalid("rescale_betas_zero_snr"));
      assert.throws(() => createScheduler(name, { trained_betas: [0.1, 0.2] }), invalid("trained_betas"));
      assert.throws(() => createScheduler(name, [] as unknown as object), invalid("scheduler_config"));
    });
  }

  it("createScheduler rejects an unknown name", () => {
    assert.throws(() => createScheduler("pndm" as never, SD), invalid("scheduler"));
  });

  it("rejects options that are not implemented instead of ignoring them", () => {
    assert.throws(() => new DDIMScheduler({ thresholding: true }), invalid("thresholding"));
    assert.throws(
      () => new EulerDiscreteScheduler({ use_exponential_sigmas: true }),
      invalid("use_exponential_sigmas"),
    );
    assert.throws(() => new EulerAncestralDiscreteScheduler({ prediction_type: "sample" }), invalid("prediction_type"));
    assert.throws(
      () => new DPMSolverMultistepScheduler({ algorithm_type: "sde-dpmsolver++" }),
      invalid("algorithm_type"),
    );
    assert.throws(() => new DPMSolverMultistepScheduler({ solver_order: 4 }), invalid("solver_order"));
    assert.throws(() => new DPMSolverMultistepScheduler({ variance_type: "learned_range" }), invalid("variance_type"));
    // The factory name fixes DPM-Solver++ 2M whatever the config says.
    const s = createScheduler("dpm++2m", { algorithm_type: "sde-dpmsolver++", solver_order: 3 });
    assert.equal((s.config as { solver_order: number }).solver_order, 2);
    assert.equal((s.config as { algorithm_type: string }).algorithm_type, "dpmsolver++");
  });

  it("uses trained_betas when given", () => {
    const linear = makeBetas(readBetaScheduleConfig({}, "leading"));
    const s = new DDIMScheduler({ trained_betas: Array.from(linear), beta_schedule: "scaled_linear" });
    assert.deepEqual(s.betas, linear);
  });

  it("rejects a steps_offset that pushes a timestep past the training range", () => {
    const s = new DDIMScheduler({ steps_offset: 1 });
    assert.throws(() => s.setTimesteps(1000), invalid("steps_offset"));
  });
});

describe("scheduler behaviour", () => {
  const n = 48;

  it("DDIM and DPM-Solver refuse to step before setTimesteps", () => {
    const x = ramp(n);
    assert.throws(() => new DDIMScheduler(SD).step(x, 999, x), SchedulerStateError);
    assert.throws(() => new DPMSolverMultistepScheduler(SD).step(x, 999, x), SchedulerStateError);
  });

  it("noise-injecting steps require noise of the sample's size", () => {
    const x = ramp(n);
    const ea = new EulerAncestralDiscreteScheduler(SD);
    ea.setTimesteps(5);
    const t = ea.timesteps[0] as number;
    assert.throws(() => ea.step(x, t, x), invalid("noise"));
    assert.throws(() => ea.step(x, t, x, { noise: ramp(n - 1) }), invalid("noise"));
    const ddim = new DDIMScheduler(SD);
    ddim.setTimesteps(5);
    assert.throws(() => ddim.step(x, ddim.timesteps[0] as number, x, { eta: 0.3 }), invalid("noise"));
    assert.throws(() => ddim.step(x, ddim.timesteps[0] as number, x, { eta: -1 }), invalid("eta"));
  });

  it("rejects mismatched model outputs and unknown timesteps", () => {
    const x = ramp(n);
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, SD);
      s.setTimesteps(5);
      assert.throws(
        () => s.step(ramp(n + 1), s.timesteps[0] as number, x, { noise: x }),
        invalid("model_output"),
        name,
      );
    }
    const e = new EulerDiscreteScheduler(SD);
    e.setTimesteps(5);
    assert.throws(() => e.scaleModelInput(x, 123.5), invalid("timestep"));
    const d = new DDIMScheduler(SD);
    d.setTimesteps(5);
    assert.throws(() => d.step(x, 1000, x), invalid("timestep"));
    assert.throws(() => d.step(x, 10.5, x), invalid("timestep"));
  });

  it("refuses to step past the last timestep", () => {
    const x = ramp(n);
    for (const name of ["euler", "euler-a", "dpm++2m"] as const) {
      const s = createScheduler(name, SD);
      s.setTimesteps(3);
      let sample = x;
      for (const t of s.timesteps) sample = s.step(ramp(n, 0.1), t, sample, { noise: x }).prevSample;
      assert.throws(() => s.step(ramp(n, 0.1), s.timesteps[2] as number, sample, { noise: x }), SchedulerStateError);
    }
  });

  it("does not modify its inputs", () => {
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, SD);
      s.setTimesteps(4);
      const x = ramp(n);
      const m = ramp(n, 0.3);
      const noise = ramp(n, 2);
      const copies = [x.slice(), m.slice(), noise.slice()];
      const t = s.timesteps[0] as number;
      const out = s.step(m, t, s.scaleModelInput(x, t), { noise });
      assert.notEqual(out.prevSample, x);
      assert.deepEqual([x, m, noise], copies, name);
    }
  });

  it("setBeginIndex resumes a schedule in the middle (img2img), matching the full run", () => {
    for (const name of SCHEDULER_NAMES) {
      const model = (x: Float32Array, t: number) => x.map((v, i) => v * 0.01 * (t / 1000) + Math.cos(i) * 0.1);
      const noise = (k: number) => ramp(n, 1 + k);
      const full = createScheduler(name, SD);
      full.setTimesteps(8);
      let x: Float32Array = ramp(n, full.initNoiseSigma);
      let atThree: Float32Array | undefined;
      Array.from(full.timesteps).forEach((t, k) => {
        if (k === 3) atThree = x;
        x = full.step(model(full.scaleModelInput(x, t), t), t, x, { noise: noise(k) }).prevSample;
      });
      const finalFull = x;
      // DPM-Solver's multistep history starts empty on resume, so only first-order-identical steps can be
      // compared there; the single-step schedulers must match exactly.
      if (name === "dpm++2m") continue;
      const part = createScheduler(name, SD);
      part.setTimesteps(8);
      part.setBeginIndex(3);
      assert.ok(atThree);
      let y: Float32Array = atThree;
      Array.from(part.timesteps)
        .slice(3)
        .forEach((t, j) => {
          y = part.step(model(part.scaleModelInput(y, t), t), t, y, { noise: noise(j + 3) }).prevSample;
        });
      assert.deepEqual(y, finalFull, name);
    }
  });

  it("addNoise at the first timestep reaches the schedule's noise level", () => {
    const zeros = new Float32Array(n);
    const noise = ramp(n, 1);
    const e = new EulerDiscreteScheduler(SD);
    e.setTimesteps(10);
    const noised = e.addNoise(zeros, noise, e.timesteps[0] as number);
    assert.ok(Math.abs((noised[5] as number) - (noise[5] as number) * e.initNoiseSigma) < 1e-4);
    const d = new DDIMScheduler(SD);
    d.setTimesteps(10);
    const dn = d.addNoise(zeros, noise, 999);
    const sqrtOneMinus = Math.sqrt(1 - (d.alphasCumprod[999] as number));
    assert.ok(Math.abs((dn[5] as number) - (noise[5] as number) * sqrtOneMinus) < 1e-6);
  });

  it("DDIM timesteps follow each spacing", () => {
    const spacing = (timestep_spacing: string, steps: number, extra = {}) => {
      const s = new DDIMScheduler({ timestep_spacing, ...extra });
      s.setTimesteps(steps);
      return s.timesteps;
    };
    assert.deepEqual(spacing("leading", 4, { steps_offset: 1 }), [751, 501, 251, 1]);
    assert.deepEqual(spacing("trailing", 4), [999, 749, 499, 249]);
    assert.deepEqual(spacing("linspace", 4), [999, 666, 333, 0]);
  });

  it("Euler's initNoiseSigma depends on the spacing as in diffusers", () => {
    const lin = new EulerDiscreteScheduler(SD);
    lin.setTimesteps(10);
    assert.equal(lin.initNoiseSigma, lin.sigmas[0]);
    const lead = new EulerDiscreteScheduler({ ...SD, timestep_spacing: "leading" });
    lead.setTimesteps(10);
    const max = lead.sigmas[0] as number;
    assert.ok(Math.abs(lead.initNoiseSigma - Math.sqrt(max * max + 1)) < 1e-5);
  });
});
