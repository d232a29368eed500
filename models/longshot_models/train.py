"""Train the whole pack from scratch on CPU: `python -m longshot_models.train`.

Stages (each resumable from its checkpoint in models/runs/):
  1. vae            — the 64x64 <-> 4x16x16 autoencoder, then the latent scaling factor from data;
     vae-decoder    — its decoder fine-tuned alone with an edge term (the latents do not change);
  2. text           — export + quantize the MiniLM text encoder and embed every prompt of the world;
  3. keyframe, interpolation — the two pseudo-3D UNets, trained side by side in two processes (1 thread each).
Finished weights land in models/weights/*.safetensors (committed), so export and tests never need retraining.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# OpenMP threads that spin while waiting collapse throughput when the 2 cores are shared with other work.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch.nn import functional as F

from . import diffusion, direction, text, unet, vae, world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"
WEIGHTS = ROOT / "weights"

# Steps sized so the whole run fits in about 2 hours on 2 CPU cores.
DEFAULT_STEPS = {"vae": 1200, "vae-decoder": 1500, "keyframe": 2400, "interpolation": 2400}
VAE_DECODER_EDGE_WEIGHT = 1.0  # the decoder fine-tune's edge term (vae.VAE.decoder_loss), chosen in docs/models.md
KEYFRAME_TIMES = [i / 4 for i in range(5)]  # 5 keyframes span the clip: every 16th of 65 frames
INTERP_STRIDES = (4.0, 1.0, 0.25)  # 5->17, 17->65, 65->257 (in units of the 65-frame clip)
INTERP_WINDOW = 9  # frames per training window: keyframe slots at 0, 4, 8
PROMPT_DROPOUT = 0.1
# Min-SNR-gamma loss weighting (Hang et al. 2023) for epsilon prediction: weight min(SNR, gamma) / SNR. It stops the
# many nearly-clean timesteps from dominating the loss, so training spends its steps on layout, colour and motion.
MIN_SNR_GAMMA = 5.0
# Reversal augmentation: a keyframe clip is drawn backwards, with its direction word swapped, this often (only
# where the swapped combination is a seen one). The data then has every clip and its mirror in time.
REVERSE_PROB = 0.5
DIRECTION_EVERY = 1200  # keyframe runs log the direction metric (direction.py) on their EMA this often


def log(stage: str, **fields: object) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"stage": stage, "time": round(time.time(), 1), **fields})
    with open(RUNS / f"{stage}.log.jsonl", "a") as f:
        f.write(line + "\n")
    print(line, flush=True)


def lr_at(step: int, total: int, peak: float, warmup: int = 100, floor: float = 0.1) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


class Ema:
    def __init__(self, model: torch.nn.Module, decay: float = 0.999) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)


def _save_ckpt(path: Path, **state: object) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------- stage 1: VAE


def _train_loop(
    stage: str, trained: torch.nn.Module, ckpt: Path, steps: int, rng: random.Random, peak_lr: float, warmup: int, batch_loss: Callable[[], tuple[torch.Tensor, dict[str, float]]]
) -> None:
    """The VAE stages' loop: AdamW on `trained` with lr_at's schedule, a log row every 50 steps and a checkpoint every
    250 that a rerun resumes from (weights, optimiser, both random states), so an interrupted stage loses no steps."""
    opt = torch.optim.AdamW(trained.parameters(), lr=peak_lr, weight_decay=0.0)
    start = 0
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        trained.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        start = st["step"]
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
    t0 = time.time()
    for step in range(start, steps):
        loss, parts = batch_loss()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, peak_lr, warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(stage, step=step, loss=round(float(loss.detach()), 5), **{k: round(v, 5) for k, v in parts.items()}, elapsed=round(time.time() - t0))
        if step % 250 == 249:
            _save_ckpt(ckpt, model=trained.state_dict(), opt=opt.state_dict(), step=step + 1, rng=rng.getstate(), torch_rng=torch.get_rng_state())


def train_vae(steps: int, seed: int = 0, batch: int = 32) -> None:
    out = WEIGHTS / "vae.safetensors"
    if out.exists():
        print("vae: weights exist, skipping", flush=True)
        return
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = vae.VAE()

    def batch_loss() -> tuple[torch.Tensor, dict[str, float]]:
        specs = [world.sample_spec(rng) for _ in range(batch)]
        return model.loss(torch.cat([world.render(s, [rng.random()]) for s in specs]))

    _train_loop("vae", model, RUNS / "vae.ckpt", steps, rng, 2e-3, 100, batch_loss)
    model.eval()
    scale = latent_scaling_factor(model, seed)
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(out), metadata={"scaling_factor": repr(scale), "steps": str(steps)})
    log("vae", done=True, scaling_factor=scale, psnr=vae_psnr(model, seed))


def train_vae_decoder(steps: int, seed: int = 0, batch: int = 32, edge_weight: float = VAE_DECODER_EDGE_WEIGHT) -> None:
    """Fine-tune the decoder of weights/vae.safetensors alone, with an edge term (vae.VAE.decoder_loss). The encoder,
    the scaling factor and so every latent stay as they are, so it runs on a finished pack without retraining the
    UNets. Skips weights that had it (their metadata says `decoder_steps`)."""
    path = WEIGHTS / "vae.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
    if "decoder_steps" in meta:
        print(f"vae-decoder: weights already fine-tuned ({meta['decoder_steps']} steps), skipping", flush=True)
        return
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model, _ = load_vae()
    model.encoder.requires_grad_(False)
    model.decoder.train()

    def batch_loss() -> tuple[torch.Tensor, dict[str, float]]:
        return model.decoder_loss(torch.cat([world.render(world.sample_spec(rng), [rng.random()]) for _ in range(batch)]), edge_weight)

    _train_loop("vae-decoder", model.decoder, RUNS / "vae-decoder.ckpt", steps, rng, 1e-3, 50, batch_loss)
    model.eval()
    save_file(model.state_dict(), str(path), metadata={**meta, "decoder_steps": str(steps), "decoder_edge_weight": repr(edge_weight)})
    log("vae-decoder", done=True, psnr=vae_psnr(model, seed))


@torch.no_grad()
def latent_scaling_factor(model: vae.VAE, seed: int, n: int = 2048) -> float:
    """SD's recipe: 1 / std of the latents over the data, so scaled latents have unit variance."""
    rng = random.Random(seed + 1)
    zs = []
    for _ in range(n // 64):
        x = torch.cat([world.render(world.sample_spec(rng, split="any"), [rng.random()]) for _ in range(64)])
        zs.append(model.encode(x))
    return float(1.0 / torch.cat(zs).std())


@torch.no_grad()
def vae_psnr(model: vae.VAE, seed: int, n: int = 256) -> float:
    rng = random.Random(seed + 2)
    x = torch.cat([world.render(world.sample_spec(rng, split="any"), [rng.random()]) for _ in range(n)])
    rec = model.decode(model.encode(x)).clamp(-1, 1)
    mse = F.mse_loss((rec + 1) / 2, (x + 1) / 2)
    return float(10 * torch.log10(1.0 / mse))


def load_vae() -> tuple[vae.VAE, float]:
    path = WEIGHTS / "vae.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        scale = float(f.metadata()["scaling_factor"])
    model = vae.VAE()
    model.load_state_dict(load_file(str(path)))
    return model.eval(), scale


# ---------------------------------------------------------------- stage 2: text


def prepare_text() -> Path:
    """Export the text encoder once (into the run folder) and return its ONNX path."""
    done = RUNS / "text" / "text_encoder.onnx"
    if not done.exists():
        text.export_text_encoder(RUNS / "text")
    return done


# ---------------------------------------------------------------- stage 3: UNets


def _encode_clip(vae_model: vae.VAE, scale: float, spec: world.ClipSpec, times: list[float]) -> torch.Tensor:
    with torch.no_grad():
        return (vae_model.encode(world.render(spec, times)) * scale).permute(1, 0, 2, 3)  # [4, F, 16, 16]


def interp_hint(known: torch.Tensor, f: int, hint: str = "repeat") -> torch.Tensor:
    """The hint channels of an interpolation input with known frames every 4th slot, [B, C, F, H, W]. "repeat"
    (the seed's): frame i gets known frame i // 4. "blend": frame i gets the two known frames around it blended
    linearly, (1 - a) * known[k] + a * known[k + 1] with k = i // 4 and a = (i % 4) / 4."""
    b, c, k, h, w = known.shape
    if hint == "repeat":
        return known[:, :, :, None].expand(b, c, k, 4, h, w).reshape(b, c, -1, h, w)[:, :, :f]
    if hint != "blend":
        raise ValueError(f"hint {hint!r}: expected 'repeat' or 'blend'")
    nxt = torch.cat([known[:, :, 1:], known[:, :, -1:]], dim=2)
    a = torch.arange(4, dtype=known.dtype).div(4).view(1, 1, 1, 4, 1, 1)
    mixed = known[:, :, :, None] * (1 - a) + nxt[:, :, :, None] * a
    return mixed.reshape(b, c, -1, h, w)[:, :, :f]


def interp_inputs(x0: torch.Tensor, noisy: torch.Tensor, hint: str = "repeat") -> torch.Tensor:
    """The seed's conditioning: cat[noisy(4), mask(1), hint(4)], the hint built from the keyframes at every 4th slot
    (`interp_hint`). mask is 0 at keyframe slots and 1 at frames to fill in."""
    b, c, f, h, w = x0.shape
    mask = torch.ones(b, 1, f, h, w)
    mask[:, :, 0::4] = 0.0
    return torch.cat([noisy, mask, interp_hint(x0[:, :, 0::4], f, hint)], dim=1)


def sample_interp_window(rng: random.Random, spec: world.ClipSpec, strides: tuple[float, ...] = INTERP_STRIDES) -> tuple[list[float], float]:
    """A training window of the interpolation UNet: its frame times and stride, the stride drawn from `strides`
    (a stride listed twice is drawn twice as often)."""
    stride = rng.choice(strides)
    span = stride * (INTERP_WINDOW - 1) / 64.0
    p0 = rng.uniform(0.0, max(0.0, 1.0 - span))
    return [p0 + k * stride / 64.0 for k in range(INTERP_WINDOW)], stride


def min_snr_weight(t: torch.Tensor, gamma: float = MIN_SNR_GAMMA, plus_one: bool = False) -> torch.Tensor:
    """Weight of the epsilon-MSE at timesteps t. The epsilon loss is the x0 loss times SNR, so it hardly cares
    about x0 at high noise, where a sample's layout (and the direction of its motion) is decided. Min-SNR-gamma
    gives x0 the weight min(SNR, gamma); with plus_one, min(SNR, gamma) + 1, as v-prediction's loss does (its x0
    weight is SNR + 1), so the high-noise steps keep a weight of 1 on getting the clip right."""
    ac = diffusion.alphas_cumprod()[t]
    snr = ac / (1 - ac)
    return (snr.clamp(max=gamma) + (1.0 if plus_one else 0.0)) / snr


def keyframe_clip(rng: random.Random, spec: world.ClipSpec, reverse_prob: float = REVERSE_PROB) -> tuple[list[float], str]:
    """The keyframe times and prompt of one training clip: as drawn, or (reversal augmentation) played backwards
    with the opposite direction word, e.g. a "moving left" clip reversed is a "moving right" clip. The motion is
    said by any of the world's phrasings for it (world.varied_prompt)."""
    if rng.random() < reverse_prob:
        mirror = direction.swapped(spec)
        if not world.is_held_out(mirror.combo):
            return [1.0 - t for t in KEYFRAME_TIMES], world.varied_prompt(mirror, rng)
    return KEYFRAME_TIMES, world.varied_prompt(spec, rng)


def unet_config(kind: str, overrides: dict[str, object] | None = None) -> unet.UNetConfig:
    if kind == "keyframe":
        return unet.keyframe_config(**(overrides or {}))
    unknown = set(overrides or {}) - {"interpolation_hint"}
    if unknown:
        raise ValueError(f"--set {sorted(unknown)}: the interpolation UNet takes only interpolation_hint")
    return unet.interpolation_config(**(overrides or {}))  # type: ignore[arg-type]


def train_unet(
    kind: str,
    steps: int,
    seed: int = 0,
    continue_from_weights: bool = False,
    run: str | None = None,
    overrides: dict[str, object] | None = None,
    direction_every: int = DIRECTION_EVERY,
    init_from: Path | None = None,
    x0_weight_plus_one: bool = True,
    interp_strides: tuple[float, ...] = INTERP_STRIDES,
    peak_lr: float | None = None,
) -> None:
    """Train a UNet for `steps` steps. With continue_from_weights, start from the committed weights (model and
    EMA) and train `steps` more with a fresh optimizer and schedule: how a later run improves a shipped pack.
    A named `run` (an A/B candidate, with config `overrides`) keeps its checkpoint, log and weights in runs/.
    `init_from` starts from other weights (e.g. an earlier design's): parameters it lacks keep their initialisation,
    which for the frame-order modules leaves the model's function unchanged at step 0."""
    name = run or kind
    out = RUNS / f"{run}.safetensors" if run else WEIGHTS / f"{kind}_unet.safetensors"
    if out.exists() and not continue_from_weights:
        print(f"{name}: weights exist, skipping", flush=True)
        return
    torch.set_num_threads(int(os.environ.get("LONGSHOT_TRAIN_THREADS", "1")))
    torch.manual_seed(seed)
    rng = random.Random(seed + (1 if kind == "keyframe" else 2))
    cfg = unet_config(kind, overrides)
    model = unet.UNetPseudo3D(cfg)
    ema = Ema(model)
    peak = peak_lr or (5e-4 if continue_from_weights or init_from is not None else 1e-3)
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=0.01)
    batch = 8 if kind == "keyframe" else 4
    vae_model, scale = load_vae()
    embedder = text.PromptEmbedder(prepare_text())
    uncond = embedder.embed([""])[0]
    meter = direction.DirectionMeter(vae_model, scale, embedder) if kind == "keyframe" and direction_every > 0 else None
    ckpt = RUNS / (f"{name}.continue.ckpt" if continue_from_weights else f"{name}.ckpt")
    start = 0
    if continue_from_weights and not ckpt.exists():
        weights = load_file(str(out))
        model.load_state_dict(weights)
        ema.model.load_state_dict(weights)
    elif init_from is not None and not ckpt.exists():
        missing, unexpected = model.load_state_dict(load_file(str(init_from)), strict=False)
        if unexpected:
            raise SystemExit(f"--init-from {init_from}: parameters this {kind} UNet does not have: {unexpected[:5]}")
        ema.model.load_state_dict(model.state_dict())
        log(name, init_from=str(init_from), new_parameters=sorted({k.split(".")[0] + "..." + k.split(".")[-2] for k in missing}))
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        ema.model.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        start = st["step"]
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
    log(name, start=start, steps=steps, continued=continue_from_weights, params=unet.count_parameters(model), config=cfg.to_dict())
    t0 = time.time()
    for step in range(start, steps):
        specs = [world.sample_spec(rng) for _ in range(batch)]
        if kind == "keyframe":
            clips = [keyframe_clip(rng, s) for s in specs]
            x0 = torch.stack([_encode_clip(vae_model, scale, s, c[0]) for s, c in zip(specs, clips)])
            prompts = [c[1] for c in clips]
            strides = None
        else:
            wins = [sample_interp_window(rng, s, interp_strides) for s in specs]
            x0 = torch.stack([_encode_clip(vae_model, scale, s, w[0]) for s, w in zip(specs, wins)])
            prompts = [s.prompt for s in specs]
            strides = torch.tensor([w[1] for w in wins])
        ctx = embedder.embed(prompts)
        drop = torch.tensor([rng.random() < PROMPT_DROPOUT for _ in specs])
        ctx = torch.where(drop[:, None, None], uncond[None], ctx)
        t = torch.randint(0, diffusion.NUM_TRAIN_TIMESTEPS, (batch,))
        noise = torch.randn_like(x0)
        noisy = diffusion.add_noise(x0, noise, t)
        inp = noisy if kind == "keyframe" else interp_inputs(x0, noisy, cfg.interpolation_hint)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, peak)
        pred = model(inp, t.float(), ctx, strides)
        loss = (min_snr_weight(t, plus_one=x0_weight_plus_one) * F.mse_loss(pred, noise, reduction="none").flatten(1).mean(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model, step)
        if step % 25 == 0 or step == steps - 1:
            log(name, step=step, loss=round(float(loss), 5), lr=round(opt.param_groups[0]["lr"], 6), elapsed=round(time.time() - t0), sps=round((step + 1 - start) / max(1e-9, time.time() - t0), 3))
        if step % 100 == 99:
            _save_ckpt(ckpt, model=model.state_dict(), ema=ema.model.state_dict(), opt=opt.state_dict(), step=step + 1, rng=rng.getstate(), torch_rng=torch.get_rng_state())
        if meter is not None and (step % direction_every == direction_every - 1 or step == steps - 1):
            log(name, step=step + 1, direction=meter.measure(ema.model).to_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(ema.model.state_dict(), str(out), metadata={"config": json.dumps(cfg.to_dict()), "steps": str(steps)})
    log(name, done=True, elapsed=round(time.time() - t0))


def finish_from_checkpoint(kind: str, run: str | None = None, overrides: dict[str, object] | None = None) -> None:
    """Write a UNet's committed weights from its latest checkpoint's EMA (a run stopped early keeps what it
    learned); with `run`, from that A/B candidate's checkpoint (its --set overrides give its config)."""
    name = run or kind
    ckpts = [RUNS / f"{name}.continue.ckpt", RUNS / f"{name}.ckpt"]
    st = torch.load(next((c for c in ckpts if c.exists()), ckpts[-1]), weights_only=False)
    cfg = unet_config(kind, overrides)
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    save_file(st["ema"], str(WEIGHTS / f"{kind}_unet.safetensors"), metadata={"config": json.dumps(cfg.to_dict()), "steps": str(st["step"])})
    log(name, finished_early=True, step=st["step"])


def weights_config(kind: str) -> unet.UNetConfig:
    """The config a committed UNet was trained with (stored in its weights' metadata)."""
    from safetensors import safe_open

    with safe_open(str(WEIGHTS / f"{kind}_unet.safetensors"), "pt") as f:
        return unet.UNetConfig.from_dict(json.loads(f.metadata()["config"]))


def load_unet(kind: str) -> unet.UNetPseudo3D:
    model = unet.UNetPseudo3D(weights_config(kind))
    model.load_state_dict(load_file(str(WEIGHTS / f"{kind}_unet.safetensors")))
    return model.eval()


def _parse_override(arg: str) -> tuple[str, object]:
    field, sep, value = arg.partition("=")
    known = {f for f in unet.UNetConfig.__dataclass_fields__}
    if not sep or field not in known:
        raise SystemExit(f"--set {arg!r}: expected FIELD=VALUE with FIELD one of {sorted(known)}")
    if value.lower() in ("true", "false"):
        return field, value.lower() == "true"
    if field == "interpolation_hint":
        if value not in unet.INTERPOLATION_HINTS:
            raise SystemExit(f"--set {arg!r}: VALUE must be one of {unet.INTERPOLATION_HINTS}")
        return field, value
    try:
        return field, int(value)
    except ValueError:
        raise SystemExit(f"--set {arg!r}: VALUE must be true, false or an integer") from None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["all", "vae", "vae-decoder", "text", "keyframe", "interpolation"], default="all")
    ap.add_argument("--steps", type=int, default=None, help="steps for a single --stage (defaults per stage)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--finish", action="store_true", help="write the UNet weights of --stage from its last checkpoint and stop")
    ap.add_argument("--continue", dest="continue_", action="store_true", help="train a UNet --stage --steps more steps, starting from its committed weights")
    ap.add_argument("--run", help="name an A/B run: checkpoint, log and weights go to runs/NAME.* (with --finish: commit that run's EMA)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="UNet config override for an A/B run, e.g. --set prompt_frame_conditioning=false (keyframe) or --set interpolation_hint=blend (interpolation)")
    ap.add_argument("--direction-every", type=int, default=DIRECTION_EVERY, help="log the direction metric every N keyframe steps (0: never)")
    ap.add_argument("--init-from", type=Path, help="start the UNet from these weights (safetensors); parameters they lack keep their initialisation")
    ap.add_argument("--peak-lr", type=float, help="peak learning rate of a UNet stage (default 1e-3 from scratch, 5e-4 from weights)")
    ap.add_argument("--min-snr-only", action="store_true", help="x0 loss weight min(SNR, 5) (the 1.1.0 recipe) instead of min(SNR, 5) + 1")
    ap.add_argument("--interp-strides", default=",".join(str(s) for s in INTERP_STRIDES), metavar="S,S,...", help=f"interpolation training strides to draw from, a repeated one more often (default {','.join(str(s) for s in INTERP_STRIDES)})")
    args = ap.parse_args(argv)
    try:
        interp_strides = tuple(float(x) for x in args.interp_strides.split(","))
    except ValueError:
        ap.error(f"--interp-strides takes comma-separated strides, e.g. 4,4,1,0.25; got {args.interp_strides!r}")
    if not set(interp_strides) <= set(INTERP_STRIDES):
        ap.error(f"--interp-strides: each stride must be one of {INTERP_STRIDES}; got {args.interp_strides!r}")
    overrides = dict(_parse_override(a) for a in args.set)
    if args.finish:
        for k in ("keyframe", "interpolation") if args.stage == "all" else (args.stage,):
            finish_from_checkpoint(k, args.run, overrides)
        return
    steps = lambda s: args.steps or DEFAULT_STEPS[s]  # noqa: E731
    if args.stage == "vae":
        train_vae(steps("vae"), args.seed)
    elif args.stage == "vae-decoder":
        train_vae_decoder(steps("vae-decoder"), args.seed)
    elif args.stage == "text":
        prepare_text()
    elif args.stage in ("keyframe", "interpolation"):
        train_unet(args.stage, steps(args.stage), args.seed, args.continue_, args.run, overrides, args.direction_every, args.init_from, not args.min_snr_only, interp_strides, args.peak_lr)
    else:
        t0 = time.time()
        torch.set_num_threads(2)
        train_vae(steps("vae"), args.seed)
        train_vae_decoder(steps("vae-decoder"), args.seed)
        prepare_text()
        procs = [
            subprocess.Popen([sys.executable, "-m", "longshot_models.train", "--stage", k, "--seed", str(args.seed)], cwd=ROOT)
            for k in ("keyframe", "interpolation")
        ]
        codes = [p.wait() for p in procs]
        if any(codes):
            raise SystemExit(f"UNet training failed: exit codes {codes}")
        print(f"all stages done in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
