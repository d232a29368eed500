// The TypeScript engine's side of models/tests/test_convert_diffusers.py: loads an exported pack with @longshot/engine
// (as `longshot generate` does), generates from supplied initial noise, and writes what the test compares with
// diffusers: the keyframe latents, the text embeddings, the keyframes decoded by the pack's VAE decoder graph through
// the engine's runtime session (float, before the uint8 conversion), and the uint8 frames at the keyframe slots.
// Usage: node convert_engine.mjs SETTINGS.json  (packDir, noise, prompt, frames, keyframeSteps, keyframeGuidance,
// interpolationSteps, out), or: node convert_engine.mjs --load PACK (opens every session, prints "loaded" or
// "refused: <message>").
import { readFileSync, writeFileSync } from "node:fs";
import { Engine, readNoiseFile } from "@longshot/engine";
import { encodeSafetensors, Tensor } from "@longshot/tensor";

if (process.argv[2] === "--load") {
  try {
    const engine = await Engine.create({ packDir: process.argv[3], threads: 1 });
    await engine.close();
    console.log("loaded");
  } catch (err) {
    console.log(`refused: ${err.message}`);
  }
  process.exit(0);
}

const s = JSON.parse(readFileSync(process.argv[2], "utf8"));
const engine = await Engine.create({ packDir: s.packDir, threads: 1 });
try {
  const noise = await readNoiseFile(s.noise);
  const result = await engine.generate({
    prompt: s.prompt,
    seed: 0,
    frames: s.frames,
    sampler: "ddim",
    mode: "pinned",
    keyframeSteps: s.keyframeSteps,
    keyframeGuidance: s.keyframeGuidance,
    interpolationSteps: s.interpolationSteps,
    interpolationGuidance: 1,
    noise,
  });
  const kf = result.latents.keyframes;
  const [, c, k, h, w] = kf.dims;
  const scale = engine.pack.manifest.latent.scalingFactor;
  // [1, C, K, h, w] → [K, C, h, w], divided by the scaling factor (as the engine's decode stage does).
  const per = new Float32Array(k * c * h * w);
  for (let f = 0; f < k; f++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) per[((f * c + ch) * h * w) + i] = kf.data[((ch * k + f) * h * w) + i] / scale;
  const decoded = await engine.sessions.vaeDecoder.run({ latent: new Tensor("float32", per, [k, c, h, w]) });
  const frames = result.keyframeIndices.map((i) => result.frames[i]);
  const u8 = new Uint8Array(frames.length * frames[0].length);
  frames.forEach((f, i) => u8.set(f, i * f.length));
  const tensors = {
    keyframes: kf,
    text: result.textEmbeddings,
    decoded: decoded.image,
    keyframe_frames: new Tensor("float32", Float32Array.from(u8), [frames.length, result.height, result.width, 3]),
  };
  writeFileSync(s.out, encodeSafetensors(tensors));
  console.log(JSON.stringify({ frames: result.frames.length, keyframeIndices: result.keyframeIndices }));
} finally {
  await engine.close();
}
