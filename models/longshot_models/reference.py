"""Reference pipeline on the exported ONNX graphs: text -> keyframes -> 17 -> 65 (-> 257) -> pixels.

The TypeScript engine is checked against this, number for number: given the same initial noise (a safetensors
file), each stage's latents must agree within 1e-3. `python -m longshot_models.reference --fixtures DIR` writes
such fixtures (noise in, latents out per stage, frames out).

Sampler: DDIM (eta 0) with the pack's diffusers scheduler config. Classifier-free guidance batch = [uncond, cond].
Interpolation pass, Fin -> Fout = (Fin - 1) * 4 + 1 frames, the seed's conditioning:
    hint[:, :, i] = latents_in[:, :, i // 4] (pack interpolation.hint "repeat", the seed's; absent means it) or the
    known frames blended linearly across each gap ("blend", below); mask = 0 at keyframe slots (i % 4 == 0), 1 elsewhere;
    x_T = noise, or with strength < 1 (diffusers img2img): the pass runs only the last int(steps * strength) of its
    timesteps, starting from the known frames blended linearly across each gap (frame i between known frames k and
    k + 1 = (1 - a) * latents_in[k] + a * latents_in[k + 1], a = (i % 4) / 4) noised to the first of them with the
    level's noise; at each step, in "pinned" mode, keyframe slots are overwritten by the keyframes noised to the
    current timestep with the same noise (add_noise(latents_in, noise[:, :, ::4], t)); the model sees
    cat[x_t, mask, hint]; after the last step, pinned mode restores the keyframe slots exactly.
    "seed" mode (as the blog) lets the model regenerate the keyframe slots.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file, save_file

from . import text

NUM_TRAIN = 1000


def alphas_cumprod(cfg: dict[str, object]) -> np.ndarray:
    import torch

    n = int(cfg["num_train_timesteps"])  # type: ignore[arg-type]
    betas = torch.linspace(float(cfg["beta_start"]) ** 0.5, float(cfg["beta_end"]) ** 0.5, n, dtype=torch.float32) ** 2  # type: ignore[arg-type]
    return torch.cumprod(1.0 - betas, dim=0).numpy()


class Ddim:
    """diffusers DDIMScheduler (eta = 0, leading spacing, steps_offset, set_alpha_to_one=False), in float32."""

    def __init__(self, cfg: dict[str, object]) -> None:
        self.cfg = cfg
        self.ac = alphas_cumprod(cfg)
        self.final_ac = np.float32(1.0) if cfg.get("set_alpha_to_one", True) else self.ac[0]
        self.n = int(cfg["num_train_timesteps"])  # type: ignore[arg-type]

    def set_timesteps(self, steps: int) -> list[int]:
        ratio = self.n // steps
        self.ratio = ratio
        self.timesteps = [int(i * ratio + int(self.cfg.get("steps_offset", 0))) for i in reversed(range(steps))]  # type: ignore[arg-type]
        return self.timesteps

    def step(self, eps: np.ndarray, t: int, x: np.ndarray) -> np.ndarray:
        prev = t - self.ratio
        a_t = self.ac[t]
        a_prev = self.ac[prev] if prev >= 0 else self.final_ac
        x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
        return (np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps).astype(np.float32)

    def add_noise(self, x0: np.ndarray, noise: np.ndarray, t: int) -> np.ndarray:
        a = self.ac[t]
        return (np.sqrt(a) * x0 + np.sqrt(1 - a) * noise).astype(np.float32)


@dataclass
class Settings:
    keyframe_steps: int = 25
    keyframe_guidance: float = 5.0
    interp_steps: int = 10
    interp_guidance: float = 1.0
    mode: str = "pinned"
    frames: int = 65
    interp_strength: float = 1.0

    @staticmethod
    def pack_defaults(manifest: dict[str, object], **overrides: object) -> "Settings":
        d = manifest["defaults"]  # type: ignore[index]
        kf, it = d["keyframe"], d["interpolation"]  # type: ignore[index]
        s = Settings(kf["steps"], kf["guidance"], it["steps"], it["guidance"], d["mode"], 65, it.get("strength", 1.0))
        return Settings(**{**s.__dict__, **overrides})


class ReferencePipeline:
    def __init__(self, pack: Path, threads: int = 1) -> None:
        self.pack = pack
        self.manifest = json.loads((pack / "pack.json").read_text())
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        g = self.manifest["graphs"]
        mk = lambda n: ort.InferenceSession(str(pack / g[n]["file"]), so, providers=["CPUExecutionProvider"])  # noqa: E731
        self.text, self.kf, self.interp, self.dec = mk("textEncoder"), mk("keyframeUnet"), mk("interpolationUnet"), mk("vaeDecoder")
        self.scale = float(self.manifest["latent"]["scalingFactor"])
        self.sched = Ddim(self.manifest["scheduler"])
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(pack / self.manifest["text"]["tokenizer"]))
        self.tok.enable_truncation(self.manifest["text"]["maxTokens"])
        self.tok.enable_padding(length=self.manifest["text"]["maxTokens"], pad_id=0, pad_token="[PAD]")

    def tokenize(self, prompts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        enc = self.tok.encode_batch(prompts)
        return np.array([e.ids for e in enc], dtype=np.int64), np.array([e.attention_mask for e in enc], dtype=np.int64)

    # 1. Encode the prompt: [uncond, cond]
    def encode_prompt(self, prompt: str) -> np.ndarray:
        ids, mask = self.tokenize(["", prompt])
        (hs,) = self.text.run(None, {"input_ids": ids, "attention_mask": mask})
        return hs

    def _cfg(self, sess: ort.InferenceSession, x_in: np.ndarray, t: int, ctx: np.ndarray, guidance: float, stride: float | None) -> np.ndarray:
        """Classifier-free guidance; at guidance 1 only the conditional half runs (batch 1)."""
        batch = 1 if guidance == 1.0 else 2
        feeds = {"sample": np.concatenate([x_in] * batch), "timestep": np.full((batch,), t, np.float32), "encoder_hidden_states": ctx[2 - batch :]}
        if stride is not None:
            feeds["frame_stride"] = np.full((batch,), stride, np.float32)
        (eps,) = sess.run(None, feeds)
        if batch == 1:
            return eps.astype(np.float32)
        return (eps[0:1] + guidance * (eps[1:2] - eps[0:1])).astype(np.float32)

    # 2. Keyframes
    def keyframes(self, ctx: np.ndarray, noise: np.ndarray, s: Settings) -> np.ndarray:
        x = noise.astype(np.float32)  # DDIM init_noise_sigma = 1
        for t in self.sched.set_timesteps(s.keyframe_steps):
            eps = self._cfg(self.kf, x, t, ctx, s.keyframe_guidance, None)
            x = self.sched.step(eps, t, x)
        return x

    # 3. One interpolation pass Fin -> (Fin - 1) * 4 + 1
    def interpolate(self, ctx: np.ndarray, lat: np.ndarray, noise: np.ndarray, stride: float, s: Settings) -> np.ndarray:
        b, c, fin, h, w = lat.shape
        fout = (fin - 1) * 4 + 1
        assert noise.shape == (b, c, fout, h, w), noise.shape
        hint = blend_known_frames(lat) if self.manifest["interpolation"].get("hint", "repeat") == "blend" else np.repeat(lat, 4, axis=2)[:, :, :fout]
        mask = np.ones((b, 1, fout, h, w), np.float32)
        mask[:, :, 0::4] = 0.0
        timesteps = self.sched.set_timesteps(s.interp_steps)
        begin = strength_begin_index(s.interp_steps, s.interp_strength)
        timesteps = timesteps[begin:]
        if begin == 0:
            x = noise.astype(np.float32).copy()
        else:
            x = self.sched.add_noise(blend_known_frames(lat), noise, timesteps[0])
        for t in timesteps:
            if s.mode == "pinned":
                x[:, :, 0::4] = self.sched.add_noise(lat, noise[:, :, 0::4], t)
            inp = np.concatenate([x, mask, hint], axis=1)
            eps = self._cfg(self.interp, inp, t, ctx, s.interp_guidance, stride)
            x = self.sched.step(eps, t, x)
        if s.mode == "pinned":
            x[:, :, 0::4] = lat
        return x

    # 4. Decode: [1, 4, F, h, w] latents -> [F, H, W, 3] uint8
    def decode(self, lat: np.ndarray, batch: int = 16) -> np.ndarray:
        z = (lat[0].transpose(1, 0, 2, 3) / self.scale).astype(np.float32)
        out = []
        for i in range(0, z.shape[0], batch):
            (img,) = self.dec.run(None, {"latent": z[i : i + batch]})
            out.append(img)
        img = np.concatenate(out)
        return np.ascontiguousarray(np.clip(np.round((img.transpose(0, 2, 3, 1) + 1.0) * 127.5), 0, 255).astype(np.uint8))

    def noise_shapes(self, frames: int) -> dict[str, tuple[int, ...]]:
        h, w = self.manifest["latent"]["height"], self.manifest["latent"]["width"]
        shapes = {"keyframes": (1, 4, 5, h, w)}
        f = 5
        level = 1
        while f < frames:
            f = (f - 1) * 4 + 1
            shapes[f"interp{level}"] = (1, 4, f, h, w)
            level += 1
        return shapes

    def __call__(self, prompt: str, noise: dict[str, np.ndarray], s: Settings | None = None) -> dict[str, np.ndarray]:
        s = s or Settings()
        ctx = self.encode_prompt(prompt)
        out: dict[str, np.ndarray] = {"text": ctx}
        lat = self.keyframes(ctx, noise["keyframes"], s)
        out["keyframes"] = lat
        level = 1
        strides = self.manifest["interpolation"]["strides"]
        while lat.shape[2] < s.frames:
            fout = (lat.shape[2] - 1) * 4 + 1
            lat = self.interpolate(ctx, lat, noise[f"interp{level}"], float(strides[str(fout)]), s)
            out[f"interp{level}"] = lat
            level += 1
        out["frames"] = self.decode(lat)
        return out


def strength_begin_index(steps: int, strength: float) -> int:
    """diffusers img2img `get_timesteps`: how many leading timesteps a pass of this strength skips."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"interpolation strength must be in (0, 1], got {strength}")
    run = min(int(steps * strength), steps)
    if run < 1:
        raise ValueError(f"interpolation strength {strength} leaves no step of {steps}")
    return steps - run


def blend_known_frames(lat: np.ndarray, factor: int = 4) -> np.ndarray:
    """[B, C, Fin, h, w] -> [B, C, (Fin - 1) * factor + 1, h, w]: each gap filled by linear blending of its ends."""
    fout = (lat.shape[2] - 1) * factor + 1
    here = np.repeat(lat, factor, axis=2)[:, :, :fout]
    nxt = np.repeat(np.concatenate([lat[:, :, 1:], lat[:, :, -1:]], axis=2), factor, axis=2)[:, :, :fout]
    a = (np.arange(fout) % factor / factor).astype(np.float32)[None, None, :, None, None]
    return ((np.float32(1) - a) * here + a * nxt).astype(np.float32)


def make_noise(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}


def write_fixtures(pack: Path, out: Path, prompt: str, seed: int, s: Settings) -> None:
    """Noise in + every stage's output, as safetensors, plus the settings as JSON."""
    pipe = ReferencePipeline(pack)
    noise = make_noise(pipe.noise_shapes(s.frames), seed)
    res = pipe(prompt, noise, s)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in noise.items()}, str(out / "noise.safetensors"))
    save_file({k: np.ascontiguousarray(v) for k, v in res.items() if k != "frames"}, str(out / "latents.safetensors"))
    save_file({"frames": np.ascontiguousarray(res["frames"])}, str(out / "frames.safetensors"))
    ids, mask = pipe.tokenize(["", prompt])
    save_file({"input_ids": ids, "attention_mask": mask}, str(out / "tokens.safetensors"))
    meta = {"prompt": prompt, "seed": seed, "sampler": "ddim", **s.__dict__, "pack": pipe.manifest["name"], "packVersion": pipe.manifest["version"]}
    (out / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=Path(__file__).resolve().parents[1] / "packs" / "shapes-mini")
    ap.add_argument("--fixtures", type=Path, required=True)
    ap.add_argument("--prompt", default="a red circle moving right on a dark blue background")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--mode", choices=["pinned", "seed"], default="pinned")
    ap.add_argument("--keyframe-steps", type=int, default=8)
    ap.add_argument("--interp-steps", type=int, default=6)
    ap.add_argument("--keyframe-guidance", type=float, default=5.0)
    ap.add_argument("--interp-guidance", type=float, default=1.0)
    ap.add_argument("--interp-strength", type=float, default=1.0)
    args = ap.parse_args(argv)
    s = Settings(args.keyframe_steps, args.keyframe_guidance, args.interp_steps, args.interp_guidance, args.mode, args.frames, args.interp_strength)
    write_fixtures(args.pack, args.fixtures, args.prompt, args.seed, s)
    print(f"fixtures written to {args.fixtures}")


if __name__ == "__main__":
    main()
