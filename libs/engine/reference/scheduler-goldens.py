"""Golden values for @longshot/engine's schedulers, produced by Python diffusers itself.

Regenerate (CI does not run this; the JSON next to it is committed):

    models/.venv/bin/pip install diffusers==0.42.1 torch==2.13.0   # torch 2.13.0+cpu is already there
    models/.venv/bin/python libs/engine/reference/scheduler-goldens.py
    # writes libs/engine/reference/scheduler-goldens.json; format it the repo's way, rebuild, run the TS tests:
    npx biome format --write libs/engine/reference/scheduler-goldens.json
    npx tsc -b libs/engine && node --test 'libs/engine/dist/**/*.test.js'

Each case runs diffusers' own `full_loop` pattern (tests/schedulers/test_scheduler_*.py) the way a
pipeline does it (model sees `scale_model_input(sample, t)`, `step` gets the unscaled sample), with a
deterministic dummy sample, a deterministic dummy "model" and, for Euler-ancestral / DDIM eta > 0, a
deterministic noise array fed in place of torch's RNG. The three functions below use only integer
arithmetic, float64 +-*/, fmod and sqrt(3), so libs/engine/src/schedulers/goldens.test.ts reproduces them bit for
bit in TypeScript.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import sys
from pathlib import Path

import numpy as np
import torch

import diffusers
import diffusers.schedulers.scheduling_euler_ancestral_discrete as euler_a_module
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
)

logging.getLogger("diffusers").setLevel(logging.ERROR)
diffusers.utils.logging.set_verbosity_error()

SHAPE = (1, 4, 3, 8, 8)  # [B, C, F, H, W]
NUMEL = int(np.prod(SHAPE))
RAW_INDICES = [0, 1, 2, 100, 383, 500, 767]
AC_INDICES = [0, 1, 2, 499, 500, 998, 999]
BETA_INDICES = [0, 1, 3, 7, 100, 250, 333, 499, 500, 501, 777, 998, 999]
SQRT3 = math.sqrt(3.0)


def dummy_sample_values() -> list[float]:
    """x[i] = ((i * 37) % 101) / 101 * 2 - 1, rounded to float32."""
    return [((i * 37) % 101) / 101 * 2 - 1 for i in range(NUMEL)]


def dummy_model(sample: torch.Tensor, t: float) -> torch.Tensor:
    """out[i] = float32(x[i] * (t / 1000) * 0.1 + 0.05 * (fmod(i * 53 + t, 17) / 17 - 0.5))."""
    xs = sample.reshape(-1).tolist()
    out = [x * (t / 1000) * 0.1 + 0.05 * (math.fmod(i * 53 + t, 17.0) / 17 - 0.5) for i, x in enumerate(xs)]
    return torch.tensor(out, dtype=torch.float32).reshape(SHAPE)


def dummy_noise(k: int) -> torch.Tensor:
    """Roughly standard normal: (sum of 4 integer-hash uniforms - 2) * sqrt(3), float32."""
    out = []
    for i in range(NUMEL):
        s = 0.0
        for j in range(4):
            s += ((i * 7919 + k * 104729 + j * 15485863) % 1000003) / 1000003
        out.append((s - 2) * SQRT3)
    return torch.tensor(out, dtype=torch.float32).reshape(SHAPE)


SD_CONFIG = {  # stable-diffusion-v1-5 scheduler/scheduler_config.json
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}
VPRED_ZSNR = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "timestep_spacing": "trailing",
    "rescale_betas_zero_snr": True,
    "clip_sample": False,
    "set_alpha_to_one": False,
}


def case(id_, scheduler, config, steps, **extra):
    return {"id": id_, "scheduler": scheduler, "config": config, "steps": steps, **extra}


CASES = [
    # DDIM
    case("ddim-sd", "ddim", SD_CONFIG, 10),
    case("ddim-vpred-trailing-zsnr", "ddim", VPRED_ZSNR, 10),
    case("ddim-linear-default-eta", "ddim", {}, 10, eta=0.5),
    case("ddim-cos-linspace-sample", "ddim", {"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "linspace",
                                              "prediction_type": "sample", "clip_sample": False}, 7),
    case("ddim-sd-eta1-clipped-eps", "ddim", {**SD_CONFIG, "clip_sample": True, "clip_sample_range": 0.8}, 8,
         eta=1.0, use_clipped_model_output=True),
    # Euler
    case("euler-sd", "euler", SD_CONFIG, 10),
    case("euler-sd-leading", "euler", {**SD_CONFIG, "timestep_spacing": "leading"}, 10),
    case("euler-vpred-trailing-zsnr", "euler", VPRED_ZSNR, 10),
    case("euler-sd-karras", "euler", {**SD_CONFIG, "use_karras_sigmas": True}, 15),
    case("euler-cos-sample-sigmamin", "euler", {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample",
                                                "final_sigmas_type": "sigma_min"}, 8),
    case("euler-vpred-continuous-loglinear", "euler", {**SD_CONFIG, "prediction_type": "v_prediction",
                                                       "timestep_type": "continuous",
                                                       "interpolation_type": "log_linear"}, 6),
    # Euler ancestral
    case("euler-a-sd", "euler-a", SD_CONFIG, 10),
    case("euler-a-sd-leading", "euler-a", {**SD_CONFIG, "timestep_spacing": "leading"}, 10),
    case("euler-a-vpred-trailing-zsnr", "euler-a", VPRED_ZSNR, 10),
    # DPM-Solver++ (2M via the factory name; other orders via the class)
    case("dpm-sd", "dpm++2m", SD_CONFIG, 10),
    case("dpm-sd-20", "dpm++2m", SD_CONFIG, 20),
    case("dpm-vpred-trailing-zsnr", "dpm++2m", VPRED_ZSNR, 10),
    case("dpm-sd-karras", "dpm++2m", {**SD_CONFIG, "use_karras_sigmas": True}, 20),
    case("dpm-linear-leading-sigmamin", "dpm++2m", {"timestep_spacing": "leading", "steps_offset": 1,
                                                    "final_sigmas_type": "sigma_min"}, 12),
    case("dpm-cos-sample-trailing", "dpm++2m", {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample",
                                                "timestep_spacing": "trailing"}, 9),
    case("dpm-heun-sd", "DPMSolverMultistepScheduler", {**SD_CONFIG, "solver_type": "heun"}, 10),
    case("dpm-order3-sd", "DPMSolverMultistepScheduler", {**SD_CONFIG, "solver_order": 3}, 20),
    case("dpm-order3-sd-short", "DPMSolverMultistepScheduler", {**SD_CONFIG, "solver_order": 3}, 8),
]


def make_scheduler(name: str, config: dict):
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "euler":
        return EulerDiscreteScheduler.from_config(config)
    if name == "euler-a":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name == "dpm++2m":
        return DPMSolverMultistepScheduler.from_config({**config, "algorithm_type": "dpmsolver++", "solver_order": 2})
    if name == "DPMSolverMultistepScheduler":
        return DPMSolverMultistepScheduler.from_config(config)
    raise ValueError(name)


def stats(x: torch.Tensor) -> dict:
    a = x.reshape(-1).numpy().astype(np.float64)
    return {"sum": float(a.sum()), "absSum": float(np.abs(a).sum()), "absMean": float(np.abs(a).mean())}


def raw(x: torch.Tensor) -> list[float]:
    flat = x.reshape(-1)
    return [float(flat[i]) for i in RAW_INDICES]


def run(c: dict) -> dict:
    sched = make_scheduler(c["scheduler"], c["config"])
    sched.set_timesteps(c["steps"])
    out: dict = {**c}
    out["timesteps"] = [t.item() for t in sched.timesteps]
    if hasattr(sched, "sigmas") and c["scheduler"] != "ddim":
        out["sigmas"] = [float(s) for s in sched.sigmas]
    out["initNoiseSigma"] = float(sched.init_noise_sigma)
    out["alphasCumprod"] = {
        "indices": AC_INDICES,
        "values": [float(sched.alphas_cumprod[i]) for i in AC_INDICES],
        "sha256": hashlib.sha256(sched.alphas_cumprod.numpy().astype("<f4").tobytes()).hexdigest(),
    }
    out["betas"] = {
        "indices": BETA_INDICES,
        "values": [float(sched.betas[i]) for i in BETA_INDICES],
        # all of them, bit for bit: SHA-256 of the little-endian float32 bytes
        "sha256": hashlib.sha256(sched.betas.numpy().astype("<f4").tobytes()).hexdigest(),
    }

    original = torch.tensor(dummy_sample_values(), dtype=torch.float32).reshape(SHAPE)
    k = min(2, len(sched.timesteps) - 1)
    noised = sched.add_noise(original, dummy_noise(999), sched.timesteps[k : k + 1])
    out["addNoise"] = {"timestep": sched.timesteps[k].item(), **stats(noised), "raw": raw(noised)}

    # add_noise on the sigma schedulers does not touch the step index, but start from a fresh one anyway.
    sched = make_scheduler(c["scheduler"], c["config"])
    sched.set_timesteps(c["steps"])
    sample = original * sched.init_noise_sigma
    steps = []
    eta = c.get("eta", 0.0)
    for k, t in enumerate(sched.timesteps):
        model_in = sched.scale_model_input(sample, t)
        model_out = dummy_model(model_in, float(t))
        kwargs = {}
        if c["scheduler"] == "ddim":
            kwargs["eta"] = eta
            if c.get("use_clipped_model_output"):
                kwargs["use_clipped_model_output"] = True
            if eta > 0:
                kwargs["variance_noise"] = dummy_noise(k)
        if c["scheduler"] == "euler-a":
            noise_k = dummy_noise(k)
            euler_a_module.randn_tensor = lambda *a, _n=noise_k, **kw: _n
        res = sched.step(model_out, t, sample, **kwargs)
        x0 = getattr(res, "pred_original_sample", None)
        if x0 is None:  # DPM-Solver returns only prev_sample; its x0 prediction is the last model output
            x0 = sched.model_outputs[-1]
        sample = res.prev_sample
        steps.append({"t": t.item(), "modelIn": stats(model_in), "prev": stats(sample), "x0": stats(x0)})
    out["perStep"] = steps
    final = stats(sample)
    out["result"] = {**final, "raw": raw(sample)}
    return out


def main() -> None:
    torch.set_num_threads(1)
    cases = [run(c) for c in CASES]
    doc = {
        "generator": "libs/engine/reference/scheduler-goldens.py",
        "versions": {
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cpuCapability": torch.backends.cpu.get_cpu_capability(),
        },
        "shape": list(SHAPE),
        "rawIndices": RAW_INDICES,
        "cases": cases,
    }
    path = Path(__file__).with_name("scheduler-goldens.json")
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(cases)} cases to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
