/** `longshot generate`: a video from a prompt, in this process, with a model pack. */
import { randomInt } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { CancelledError, InvalidArgumentError, LongshotError } from "@longshot/core";
import {
  Engine,
  type GenerateOptions,
  type GenerateResult,
  INTERPOLATION_MODES,
  MAX_GUIDANCE,
  resolveGenerateOptions,
  SCHEDULER_NAMES,
} from "@longshot/engine";
import { DEFAULT_SCALE, digestFile, keyframePreviewPng, type OutputFile } from "@longshot/media";
import { loadPack, type Pack } from "@longshot/pack";
import { isWorldPrompt, type ProbeScore, score } from "@longshot/probe";
import { decodeSafetensors, type Tensor } from "@longshot/tensor";
import { decimal, integer, type OptionSpec, oneOf, parseArgs, seedValue, UsageError } from "./args.js";
import { EXECUTION_PROVIDERS, FRAME_COUNTS, generateHelp } from "./help.js";
import type { CliIo } from "./io.js";
import { prepareOutDir } from "./out-dir.js";
import { cliVersion, defaultOutDir, defaultPackDir, slugify } from "./paths.js";
import { ProgressReporter } from "./progress.js";
import { checkRemoteArgs, remoteGenerate } from "./remote.js";
import { type GifTiming, writeVideoFiles } from "./video-files.js";
import { unknownWordsWarning } from "./vocabulary.js";

export const GENERATE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  prompt: { meta: "TEXT" },
  "negative-prompt": { meta: "TEXT" },
  seed: { meta: "N" },
  "num-videos": { meta: "N" },
  frames: { meta: "17|65|257" },
  fps: { meta: "N" },
  steps: { meta: "N" },
  "keyframe-steps": { meta: "N" },
  "interpolation-steps": { meta: "N" },
  guidance: { meta: "G" },
  "keyframe-guidance": { meta: "G" },
  "interpolation-guidance": { meta: "G" },
  "interpolation-strength": { meta: "S" },
  mode: { meta: INTERPOLATION_MODES.join("|") },
  sampler: { meta: SCHEDULER_NAMES.join("|") },
  window: { meta: "N" },
  overlap: { meta: "N" },
  noise: { meta: "FILE.safetensors" },
  pack: { meta: "DIR" },
  out: { meta: "DIR" },
  scale: { meta: "N" },
  threads: { meta: "N" },
  ep: { meta: EXECUTION_PROVIDERS.join("|") },
  remote: { meta: "HOST:PORT" },
  "remote-http": { meta: "URL" },
  tls: { value: false },
  "tls-ca": { meta: "FILE" },
  "tls-cert": { meta: "FILE" },
  "tls-key": { meta: "FILE" },
  quiet: { value: false },
  help: { value: false },
};

const MAX_STEPS = 10_000;
/** The most videos one --num-videos run makes. */
export const MAX_VIDEOS = 1000;
/** The highest --fps. */
export const MAX_FPS = 240;

/** The command line of a generate run, checked. */
export interface GenerateArgs {
  prompt: string;
  negativePrompt: string | undefined;
  seed: number | bigint | undefined;
  /** --num-videos: videos to make, at seeds seed, seed + 1, … (default 1). */
  numVideos: number;
  frames: number | undefined;
  /** --fps: frame rate of the video files; undefined: {@link defaultFps}. */
  fps: number | undefined;
  keyframeSteps: number | undefined;
  interpolationSteps: number | undefined;
  keyframeGuidance: number | undefined;
  interpolationGuidance: number | undefined;
  interpolationStrength: number | undefined;
  /** Which flag set each per-stage value, for error messages. */
  flags: Record<string, string>;
  mode: (typeof INTERPOLATION_MODES)[number] | undefined;
  sampler: (typeof SCHEDULER_NAMES)[number] | undefined;
  window: number | undefined;
  overlap: number | undefined;
  noise: string | undefined;
  pack: string | undefined;
  out: string | undefined;
  scale: number;
  threads: number | undefined;
  ep: (typeof EXECUTION_PROVIDERS)[number];
  quiet: boolean;
  /** Gateway HOST:PORT: run there instead of in-process (`--pack` then names a pack the gateway serves). */
  remote: string | undefined;
  /** --remote-http: the gateway's HTTP API (base URL), where keyframes.png of a --remote run comes from. */
  remoteHttp: string | undefined;
  /** TLS towards the gateway as given on the command line (see remoteTls for the environment). */
  tls: TlsFlags;
}

/** The --tls, --tls-ca, --tls-cert and --tls-key flags of a --remote run (files unchecked). */
export interface TlsFlags {
  /** --tls: TLS even without --tls-ca (the system's root CAs verify the gateway). */
  on: boolean;
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
}

const TLS_FLAGS = ["tls", "tls-ca", "tls-cert", "tls-key"] as const;

/** Parses and checks what can be checked without the pack. Throws UsageError. */
export function parseGenerateArgs(argv: readonly string[]): GenerateArgs | "help" {
  const { options: o, positionals } = parseArgs(argv, GENERATE_OPTIONS);
  if (o.has("help")) return "help";
  if (positionals.length > 0) {
    throw new UsageError(
      JSON.stringify(positionals[0]),
      'unexpected argument; generate takes options only (the prompt goes in --prompt "…")',
    );
  }
  let remote: string | undefined;
  if (o.has("remote")) {
    remote = o.get("remote") as string;
    if (!/^[^\s:]+:\d{1,5}$/.test(remote) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(remote)) {
      throw new UsageError("--remote", `must be HOST:PORT, got ${JSON.stringify(remote)}`);
    }
    checkRemoteArgs(argv);
  } else if (o.has("remote-http")) {
    throw new UsageError("--remote-http", "applies only with --remote HOST:PORT (the gateway's HTTP API)");
  } else {
    const tlsFlag = TLS_FLAGS.find((f) => o.has(f));
    if (tlsFlag !== undefined) {
      throw new UsageError(`--${tlsFlag}`, "applies only with --remote HOST:PORT (TLS towards a gateway)");
    }
  }
  const prompt = o.get("prompt");
  if (prompt === undefined) {
    throw new UsageError(
      "--prompt",
      'is required: what the video shows, e.g. --prompt "a red circle moving right on a dark blue background"',
    );
  }
  if (prompt.trim() === "") throw new UsageError("--prompt", "must not be empty");

  const flags: Record<string, string> = {};
  const perStage = (both: string, one: string, field: string, parse: (name: string, v: string) => number) => {
    const own = o.get(one);
    if (own !== undefined) {
      flags[field] = `--${one}`;
      return parse(one, own);
    }
    const shared = o.get(both);
    flags[field] = `--${both}`;
    return shared === undefined ? undefined : parse(both, shared);
  };
  const steps = (name: string, v: string) => integer(name, v, 1, MAX_STEPS);
  const guidance = (name: string, v: string) => decimal(name, v, 1, MAX_GUIDANCE, " (1 = no classifier-free guidance)");
  // --steps / --guidance are checked even when both per-stage flags override them.
  if (o.has("steps")) steps("steps", o.get("steps") as string);
  if (o.has("guidance")) guidance("guidance", o.get("guidance") as string);

  const window = o.has("window") ? integer("window", o.get("window") as string, 2, 100_000) : undefined;
  const overlap = o.has("overlap") ? integer("overlap", o.get("overlap") as string, 0, 100_000) : undefined;
  if (overlap !== undefined && window === undefined) {
    throw new UsageError("--overlap", "needs --window N (the window length in frames, e.g. --window 17)");
  }
  const get = <T>(name: string, parse: (v: string) => T): T | undefined => {
    const v = o.get(name);
    return v === undefined ? undefined : parse(v);
  };
  const noise = get("noise", (v) => {
    if (v.trim() === "") throw new UsageError("--noise", "must name a .safetensors file");
    return v;
  });
  const pack = get("pack", (v) => {
    if (v.trim() === "") throw new UsageError("--pack", "must name a model pack folder");
    return v;
  });
  const out = get("out", (v) => {
    if (v.trim() === "") throw new UsageError("--out", "must name an output folder");
    return v;
  });
  const numVideos = get("num-videos", (v) => integer("num-videos", v, 1, MAX_VIDEOS)) ?? 1;
  const seed = get("seed", (v) => seedValue("seed", v));
  if (numVideos > 1 && noise !== undefined) {
    throw new UsageError(
      "--num-videos",
      "does not go with --noise: the noise file replaces the seed's noise, so every video would be the same",
    );
  }
  if (seed !== undefined && BigInt(seed) + BigInt(numVideos - 1) >= 1n << 64n) {
    throw new UsageError("--num-videos", `seeds ${seed} … ${BigInt(seed) + BigInt(numVideos - 1)} go past 2^64 - 1`);
  }
  const remoteHttp = get("remote-http", (v) => {
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "") {
      throw new UsageError(
        "--remote-http",
        `must be the gateway's HTTP API as an http:// or https:// URL, e.g. http://127.0.0.1:8080, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  });
  const file = (name: (typeof TLS_FLAGS)[number]) =>
    get(name, (v) => {
      if (v.trim() === "") throw new UsageError(`--${name}`, "must name a PEM file");
      return v;
    });
  return {
    prompt,
    negativePrompt: o.get("negative-prompt"),
    seed,
    numVideos,
    frames: get("frames", (v) => Number(oneOf("frames", v.trim(), FRAME_COUNTS))),
    fps: get("fps", (v) => integer("fps", v, 1, MAX_FPS)),
    keyframeSteps: perStage("steps", "keyframe-steps", "keyframeSteps", steps),
    interpolationSteps: perStage("steps", "interpolation-steps", "interpolationSteps", steps),
    keyframeGuidance: perStage("guidance", "keyframe-guidance", "keyframeGuidance", guidance),
    interpolationGuidance: perStage("guidance", "interpolation-guidance", "interpolationGuidance", guidance),
    interpolationStrength: get("interpolation-strength", (v) => {
      const x = decimal("interpolation-strength", v, 0, 1, " (1 = start from noise)");
      if (x === 0) throw new UsageError("--interpolation-strength", "must be above 0 (1 = start from noise)");
      return x;
    }),
    flags,
    mode: get("mode", (v) => oneOf("mode", v, INTERPOLATION_MODES)),
    sampler: get("sampler", (v) => oneOf("sampler", v, SCHEDULER_NAMES)),
    window,
    overlap,
    noise,
    pack,
    out,
    scale: get("scale", (v) => integer("scale", v, 1, 32)) ?? DEFAULT_SCALE,
    threads: get("threads", (v) => integer("threads", v, 1, 1024)),
    ep: get("ep", (v) => oneOf("ep", v, EXECUTION_PROVIDERS)) ?? "cpu",
    quiet: o.has("quiet"),
    remote,
    remoteHttp,
    tls: { on: o.has("tls"), caFile: file("tls-ca"), certFile: file("tls-cert"), keyFile: file("tls-key") },
  };
}

/** The command-line flag an engine option came from. */
function flagFor(field: string, args: GenerateArgs): string {
  const top = field.split(".")[0] as string;
  if (args.flags[top]) return args.flags[top] as string;
  if (field === "window.overlap") return "--overlap";
  const map: Record<string, string> = {
    prompt: "--prompt",
    negativePrompt: "--negative-prompt",
    seed: "--seed",
    frames: "--frames",
    mode: "--mode",
    sampler: "--sampler",
    interpolationStrength: "--interpolation-strength",
    window: "--window",
    noise: "--noise",
  };
  return map[top] ?? field;
}

/** An engine InvalidArgumentError as a UsageError on the flag it came from. */
function asUsage(err: InvalidArgumentError, args: GenerateArgs): UsageError {
  const flag = flagFor(err.field, args);
  const prefix = `${err.field}: `;
  const text = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  const simple = !err.field.includes(".") || err.field === "window.frames" || err.field === "window.overlap";
  return new UsageError(flag, simple ? text : `${err.field}: ${text}`);
}

/**
 * Default overlap for --window N: one interval of the pack's interpolation factor (0 when the window is a
 * single interval), the gateway's default plan: `--window 17` splits a level exactly as the distributed
 * pipeline does (17 frames, overlap 4), so the same seed gives the same video in-process and remotely.
 */
/** The gateway's default window length (frames); a window at least as long as a level is one whole pass. */
export const DEFAULT_WINDOW = 17;

/**
 * The frame rate of a video of `frames` frames when --fps is not given. A length above the pack's default is more
 * interpolation levels of the same keyframes (the same motion, more frames between them), so it plays faster to
 * last as long: 257 frames of a pack made for 65 at 16 fps play at 64 fps, the same 4 s, smoother. Up to the
 * default length, the pack's fps.
 */
export function defaultFps(video: { fps: number; defaultFrames: number }, frames: number): number {
  if (frames <= video.defaultFrames || video.defaultFrames < 2) return video.fps;
  return Math.round((video.fps * (frames - 1)) / (video.defaultFrames - 1));
}

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

const round1 = (ms: number) => Math.round(ms * 10) / 10;

export interface GenerateRecord {
  longshot: { version: string; command: "generate" };
  createdAt: string;
  prompt: string;
  negativePrompt: string;
  seed: number | string;
  pack: { name: string; version: string; dir: string };
  frames: number;
  /** Frames per second of video.mp4 (--fps, else {@link defaultFps}). */
  fps: number;
  width: number;
  height: number;
  video: {
    width: number;
    height: number;
    scale: number;
    /** video.mp4's frame rate (= fps). */
    fps: number;
    codec: "h264";
    pixelFormat: "yuv420p";
    /** video.gif: every `frameStep`-th frame at `fps` (GIF frame delays are whole 1/100 s, at least 2). */
    gif: GifTiming | null;
  };
  mode: string;
  sampler: string;
  stages: {
    keyframe: { steps: number; guidance: number; frames: number };
    interpolation: { steps: number; guidance: number; strength: number; levels: number[] };
  };
  window: { frames: number; overlap: number } | null;
  noise: { source: "seed" } | { source: "file"; file: string; sha256: string };
  runtime: { executionProvider: string; threads: number | null };
  keyframeIndices: number[];
  timingsMs: Record<string, number | number[]>;
  probe: ProbeScore | null;
  files: OutputFile[];
  ffmpeg: { path: string; version: string; source: string } | null;
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

/** Writes keyframes.png (keyframePreviewPng of the keyframe latents) into `outDir`; undefined without a map. */
async function writeKeyframePreview(
  outDir: string,
  latents: Tensor<"float32">,
  pack: Pack,
): Promise<OutputFile | undefined> {
  if (pack.manifest.latent.previewRgb === undefined) return undefined;
  const file = path.join(outDir, KEYFRAMES_PNG);
  await writeFile(file, keyframePreviewPng(latents, pack.manifest.latent));
  const digest = await digestFile(file);
  return { path: KEYFRAMES_PNG, bytes: digest.bytes, sha256: digest.sha256 };
}

/** The keyframe preview's file name in a run folder. */
export const KEYFRAMES_PNG = "keyframes.png";
/** The name of the keyframe stage's latents in GenerateControl.onLatents. */
const KEYFRAME_STREAM = "keyframes";

/** `dir` as the summary shows it: relative to the working directory when inside it. */
function shownDir(dir: string): string {
  const rel = path.relative(process.cwd(), dir) || ".";
  return rel.startsWith("..") ? dir : rel;
}

async function generateInto(
  outDir: string,
  ctx: {
    args: GenerateArgs;
    pack: Pack;
    engine: Engine;
    opts: GenerateOptions;
    io: CliIo;
    progress: ProgressReporter;
    tStart: number;
    loadMs: number;
    /** Which video of a --num-videos run this is. */
    video: { index: number; count: number } | undefined;
  },
): Promise<number> {
  const { args, pack, engine, opts, io, progress, tStart, loadMs } = ctx;
  let preview: Promise<OutputFile | undefined> | undefined;
  let res: GenerateResult;
  try {
    res = await engine.generate(opts, {
      onProgress: (e) => progress.event(e),
      signal: io.signal,
      // The keyframe preview is written as soon as the keyframes exist, while the rest of the video runs.
      onLatents: (name, latents) => {
        if (name !== KEYFRAME_STREAM) return;
        preview = writeKeyframePreview(outDir, latents, pack).then((file) => {
          progress.note(
            file !== undefined
              ? `keyframes: ${shownDir(outDir)}/${file.path}`
              : `no ${KEYFRAMES_PNG}: pack ${pack.id} declares no latent.previewRgb (docs/model-pack.md)`,
          );
          return file;
        });
        // Awaited below; a failure is reported there.
        preview.catch(() => undefined);
      },
    });
  } catch (err) {
    await preview?.catch(() => undefined);
    if (err instanceof InvalidArgumentError) throw asUsage(err, args);
    throw err;
  }
  const previewFile = await preview;
  if (io.signal?.aborted) throw new CancelledError("generate: cancelled");

  const fps = args.fps ?? defaultFps(pack.manifest.video, res.frames.length);
  const outputs = await writeVideoFiles(
    outDir,
    { frames: res.frames, width: res.width, height: res.height, fps },
    {
      scale: args.scale,
      ...(io.signal ? { signal: io.signal } : {}),
      onOutput: (what) =>
        progress.phase(what === "frames" ? `writing ${res.frames.length} PNG frames` : `writing video.${what}`),
    },
  );
  const probe = isWorldPrompt(args.prompt)
    ? score({ frames: res.frames, width: res.width, height: res.height }, args.prompt)
    : null;
  const s = res.settings;
  const record: GenerateRecord = {
    longshot: { version: cliVersion(), command: "generate" },
    createdAt: new Date().toISOString(),
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    seed: s.seed,
    pack: { name: pack.name, version: pack.version, dir: pack.dir },
    frames: res.frames.length,
    fps,
    width: res.width,
    height: res.height,
    video: {
      width: outputs.videoWidth,
      height: outputs.videoHeight,
      scale: args.scale,
      fps,
      codec: "h264",
      pixelFormat: "yuv420p",
      gif: outputs.gif ?? null,
    },
    mode: s.mode,
    sampler: s.sampler,
    stages: {
      keyframe: { steps: s.keyframeSteps, guidance: s.keyframeGuidance, frames: s.levels[0] as number },
      interpolation: {
        steps: s.interpolationSteps,
        guidance: s.interpolationGuidance,
        strength: s.interpolationStrength,
        levels: s.levels.slice(1),
      },
    },
    window: s.window,
    noise:
      args.noise !== undefined
        ? { source: "file", file: path.resolve(args.noise), sha256: (await digestFile(args.noise)).sha256 }
        : { source: "seed" },
    runtime: { executionProvider: args.ep, threads: args.threads ?? null },
    keyframeIndices: res.keyframeIndices,
    timingsMs: {
      load: round1(loadMs),
      encode: round1(res.timings.encode),
      keyframes: round1(res.timings.keyframes),
      interpolate: round1(res.timings.interpolate),
      interpolateLevels: res.timings.interpolateLevels.map(round1),
      decode: round1(res.timings.decode),
      generate: round1(res.timings.total),
      writeFrames: round1(outputs.timings.frames ?? 0),
      writeMp4: round1(outputs.timings.mp4 ?? 0),
      writeGif: round1(outputs.timings.gif ?? 0),
      total: round1(performance.now() - tStart),
    },
    probe,
    files: previewFile === undefined ? outputs.files : [...outputs.files, previewFile],
    ffmpeg: outputs.ffmpeg
      ? { path: outputs.ffmpeg.path, version: outputs.ffmpeg.version, source: outputs.ffmpeg.source }
      : null,
  };
  const resultFile = path.join(outDir, "result.json");
  const tmp = path.join(outDir, `.result.json.${process.pid}.partial`);
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(tmp, resultFile);
  progress.finish();

  const shown = shownDir(outDir);
  const n = res.frames.length;
  const gif = outputs.gif;
  const gifNote = gif !== undefined && gif.frameStep > 1 ? ` (1 frame in ${gif.frameStep}, at ${gif.fps} fps)` : "";
  const lines = [
    `wrote ${shown}/ (${n} frames, ${res.width}x${res.height} at ${fps} fps, seed ${s.seed}, ${((performance.now() - tStart) / 1000).toFixed(1)} s)`,
    `  video.mp4 (${outputs.videoWidth}x${outputs.videoHeight}), video.gif${gifNote}, frames/${outputs.files[0]?.path.replace("frames/", "") ?? ""} … frames/${outputs.files[n - 1]?.path.replace("frames/", "") ?? ""}, ${previewFile === undefined ? "" : `${KEYFRAMES_PNG}, `}result.json`,
  ];
  if (ctx.video !== undefined) lines[0] = `video ${ctx.video.index + 1}/${ctx.video.count}: ${lines[0]}`;
  if (probe) lines.push(`  probe: ${describeScore(probe)}`);
  io.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

export function describeScore(s: ProbeScore): string {
  const part = (name: string, got: string | null, want: string | null, ok: boolean) =>
    `${name} ${got ?? "none"} ${ok ? "ok" : `(wanted ${want ?? "none"})`}`;
  return [
    part("colour", s.got.colour, s.want.colour, s.colourOk),
    part("shape", s.got.shape, s.want.shape, s.shapeOk),
    part("motion", s.got.motion, s.want.motion, s.motionOk),
    part("background", s.got.background, s.want.background, s.backgroundOk),
    `smooth ${s.smooth ? "ok" : "no"} (max step ratio ${Number.isFinite(s.maxStepRatio) ? s.maxStepRatio.toFixed(2) : "inf"})`,
  ].join(", ");
}
