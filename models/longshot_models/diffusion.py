"""Noise schedule (SD's scaled_linear DDPM, epsilon prediction) and a DDIM sampler for the Python side.

The pack stores the same schedule as a diffusers `scheduler_config.json` block, so any diffusers-compatible
scheduler (the TypeScript engine's DDIM / Euler / DPM-Solver++) can sample these models.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012

SCHEDULER_CONFIG = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": NUM_TRAIN_TIMESTEPS,
    "beta_start": BETA_START,
    "beta_end": BETA_END,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}


def alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, NUM_TRAIN_TIMESTEPS, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


_AC = alphas_cumprod()


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """q(x_t | x_0) for a batch of timesteps t [B]; x0 is [B, ...]."""
    ac = _AC.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))
    return ac.sqrt() * x0 + (1 - ac).sqrt() * noise


def ddim_timesteps(steps: int) -> list[int]:
    """diffusers' DDIMScheduler.set_timesteps with timestep_spacing="leading", steps_offset=1."""
    ratio = NUM_TRAIN_TIMESTEPS // steps
    return [int(i * ratio + 1) for i in reversed(range(steps))]


def ddim_sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    steps: int,
    on_step: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0). `model(x_t, t)` returns predicted noise; `on_step(t, x)` may rewrite x
    before each model call (keyframe pinning)."""
    ts = ddim_timesteps(steps)
    ratio = NUM_TRAIN_TIMESTEPS // steps
    x = latents
    for t in ts:
        if on_step is not None:
            x = on_step(t, x)
        eps = model(x, torch.full((x.shape[0],), float(t)))
        prev = t - ratio
        a_t = _AC[t]
        a_prev = _AC[prev] if prev >= 0 else _AC[0]  # set_alpha_to_one=False
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x
