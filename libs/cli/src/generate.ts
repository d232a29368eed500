/**
 * `longshot generate`: a video from a prompt, in this process with a model pack (one video after the other for
 * --num-videos, each by generate-into.ts), or on a gateway with --remote (remote.ts).
 */
import { randomInt } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { Engine, type GenerateOptions, resolveGenerateOptions } from "@longshot/engine";
import { loadPack, type Pack } from "@longshot/pack";
import { decodeSafetensors, type Tensor } from "@longshot/tensor";
import { UsageError } from "./args.js";
import { asUsage, type GenerateArgs, parseGenerateArgs } from "./generate-args.js";
import { generateInto } from "./generate-into.js";
import { generateHelp } from "./help.js";
import type { CliIo } from "./io.js";
import { prepareOutDir } from "./out-dir.js";
import { defaultOutDir, defaultPackDir, slugify } from "./paths.js";
import { ProgressReporter } from "./progress.js";
import { remoteGenerate } from "./remote.js";
import { unknownWordsWarning } from "./vocabulary.js";

/** The gateway's default window length (frames); a window at least as long as a level is one whole pass. */
export const DEFAULT_WINDOW = 17;

/**
 * Default overlap for --window N: one interval of the pack's interpolation factor (0 when the window is a
 * single interval), the gateway's default plan: `--window 17` splits a level exactly as the distributed
 * pipeline does (17 frames, overlap 4), so the same seed gives the same video in-process and remotely.
 */
export function defaultOverlap(window: number, factor: number): number {
  const fit = Math.floor((window - 1 - factor) / factor) * factor;
  return Math.max(0, Math.min(factor, fit));
}

async function loadPackForCli(args: GenerateArgs, env: NodeJS.ProcessEnv): Promise<Pack> {
  const { dir, from } =
    args.pack !== undefined ? { dir: path.resolve(args.pack), from: "--pack" } : defaultPackDir(env);
  try {
    return await loadPack(dir);
  } catch (err) {
    if (!(err instanceof LongshotError)) throw err;
    const arg = from === "LONGSHOT_PACK" ? "LONGSHOT_PACK" : "--pack";
    const hint =
      from === "the bundled pack"
        ? ` (no --pack given and LONGSHOT_PACK is not set, so the bundled pack was used; pass --pack DIR)`
        : "";
    throw new UsageError(arg, `${err.message}${hint}`);
  }
}

async function loadNoise(file: string): Promise<Record<string, Tensor>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new UsageError("--noise", `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return decodeSafetensors(bytes).tensors;
  } catch (err) {
    throw new UsageError("--noise", `${file} is not a valid safetensors file: ${(err as Error).message}`);
  }
}

/** The seed of video `i` of a --num-videos run: `first + i`, a number while it is a safe integer. */
export function seedAt(first: number | bigint, i: number): number | bigint {
  const n = BigInt(first) + BigInt(i);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/**
 * The output folder of each video. One video: --out, else out/<slug>-<seed>. Several: --out is the folder that
 * holds them (DIR/<slug>-<seed> each), else out/<slug>-<seed> each.
 */
export function outDirs(
  args: Pick<GenerateArgs, "prompt" | "out" | "numVideos">,
  seeds: readonly (number | bigint)[],
): string[] {
  if (seeds.length === 1 && args.out !== undefined) return [path.resolve(args.out)];
  return seeds.map((seed) =>
    path.resolve(
      args.out === undefined
        ? defaultOutDir(args.prompt, seed)
        : path.join(args.out, `${slugify(args.prompt)}-${seed}`),
    ),
  );
}

export async function generateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const tStart = performance.now();
  const parsed = parseGenerateArgs(argv);
  if (parsed === "help") {
    io.stdout.write(generateHelp());
    return 0;
  }
  const args = parsed;
  if (args.remote !== undefined) return remoteGenerateMany(args, args.remote, io, tStart);
  const progress = new ProgressReporter(args.quiet ? { write: () => true } : io.stderr);

  progress.phase("checking the model pack");
  const pack = await loadPackForCli(args, io.env);
  const warning = unknownWordsWarning(args.prompt, pack.manifest.text.vocabulary);
  if (warning !== undefined) progress.note(warning, io.stderr);
  const noise = args.noise !== undefined ? await loadNoise(args.noise) : undefined;
  const first = args.seed ?? randomInt(0, 2 ** 32);
  const seeds = Array.from({ length: args.numVideos }, (_, i) => seedAt(first, i));
  const factor = pack.manifest.video.interpolationFactor;
  // Windows by default, with the gateway's plan: memory stays flat as frames grow, and an embedded run
  // gives the same video as a --remote run of the same seed.
  const windowFrames = args.window ?? DEFAULT_WINDOW;
  const window = { frames: windowFrames, overlap: args.overlap ?? defaultOverlap(windowFrames, factor) };
  const optsFor = (seed: number | bigint): GenerateOptions => ({
    prompt: args.prompt,
    negativePrompt: args.negativePrompt,
    seed,
    frames: args.frames,
    mode: args.mode,
    sampler: args.sampler,
    keyframeSteps: args.keyframeSteps,
    interpolationSteps: args.interpolationSteps,
    keyframeGuidance: args.keyframeGuidance,
    interpolationGuidance: args.interpolationGuidance,
    interpolationStrength: args.interpolationStrength,
    window,
    noise,
  });
  // Every option is checked against the pack before anything heavy starts.
  try {
    resolveGenerateOptions(pack.manifest, optsFor(first));
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw asUsage(err, args);
    throw err;
  }
  const dirs = outDirs(args, seeds);
  // Several videos under --out DIR: DIR is checked (and made) before the models load.
  const root = seeds.length > 1 && args.out !== undefined ? path.resolve(args.out) : undefined;
  let createdRoot = root === undefined ? undefined : await prepareOutDir(root);
  // The first video's folder is checked (and made) before the models load; the others just before their run.
  let firstCreated: string | undefined;
  try {
    firstCreated = await prepareOutDir(dirs[0] as string);
  } catch (err) {
    if (createdRoot !== undefined) await rm(createdRoot, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }

  progress.phase(`loading ${pack.id} (${args.ep})`);
  const tLoad = performance.now();
  let engine: Engine;
  try {
    engine = await Engine.create({
      packDir: pack.dir,
      executionProvider: args.ep,
      ...(args.threads !== undefined ? { threads: args.threads } : {}),
    });
  } catch (err) {
    if (firstCreated !== undefined) await rm(firstCreated, { recursive: true, force: true }).catch(() => undefined);
    if (createdRoot !== undefined) await rm(createdRoot, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof InvalidArgumentError) throw asUsage(err, args);
    throw err;
  }
  const loadMs = performance.now() - tLoad;
  try {
    for (let i = 0; i < seeds.length; i++) {
      const seed = seeds[i] as number | bigint;
      const outDir = dirs[i] as string;
      if (seeds.length > 1) progress.setPrefix(`video ${i + 1}/${seeds.length} (seed ${seed}) `);
      const created = i === 0 ? firstCreated : await prepareOutDir(outDir);
      firstCreated = undefined;
      try {
        await generateInto(outDir, {
          args,
          pack,
          engine,
          opts: optsFor(seed),
          io,
          progress,
          tStart: i === 0 ? tStart : performance.now(),
          loadMs: i === 0 ? loadMs : 0,
          video: seeds.length > 1 ? { index: i, count: seeds.length } : undefined,
        });
      } catch (err) {
        // A failed run leaves no folder it created behind (partial outputs without result.json are not a
        // result); the videos already made stay.
        if (created !== undefined) await rm(created, { recursive: true, force: true }).catch(() => undefined);
        if (i === 0 && createdRoot !== undefined) {
          await rm(createdRoot, { recursive: true, force: true }).catch(() => undefined);
        }
        throw err;
      }
      createdRoot = undefined;
    }
  } finally {
    await engine.close();
  }
  return 0;
}

/**
 * --num-videos N with --remote: one job after the other, at seeds s, s + 1, … (s: --seed, else a random one
 * picked here so that the seeds follow each other).
 */
async function remoteGenerateMany(args: GenerateArgs, remote: string, io: CliIo, tStart: number): Promise<number> {
  if (args.numVideos === 1) return remoteGenerate(args, remote, io, tStart);
  const first = args.seed ?? randomInt(0, 2 ** 32);
  const seeds = Array.from({ length: args.numVideos }, (_, i) => seedAt(first, i));
  const dirs = outDirs(args, seeds);
  for (let i = 0; i < seeds.length; i++) {
    const seed = seeds[i] as number | bigint;
    const code = await remoteGenerate({ ...args, seed, out: dirs[i], numVideos: 1 }, remote, io, performance.now(), {
      prefix: `video ${i + 1}/${seeds.length} (seed ${seed}) `,
    });
    if (code !== 0) return code;
  }
  return 0;
}
