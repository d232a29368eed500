/**
 * The command line of `longshot generate`: its options, their checks (everything that can be checked without the
 * pack) and the flag an engine error is about. Both the in-process run (generate.ts) and the --remote run
 * (remote.ts) start from the GenerateArgs made here.
 */
import type { InvalidArgumentError } from "@longshot/core";
import { INTERPOLATION_MODES, MAX_GUIDANCE, SCHEDULER_NAMES } from "@longshot/engine";
import { DEFAULT_SCALE } from "@longshot/media";
import { decimal, integer, type OptionSpec, oneOf, parseArgs, seedValue, UsageError } from "./args.js";
import { EXECUTION_PROVIDERS, FRAME_COUNTS } from "./help.js";
import { noTlsWithoutRemote, remoteAddress, TLS_OPTIONS, type TlsFlags, tlsFlags } from "./remote-flags.js";

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
  ...TLS_OPTIONS,
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

/** Flags that only make sense in-process, and why. */
const LOCAL_ONLY: Record<string, string> = {
  noise: "the services draw the noise from the seed",
  window: "the gateway's window plan is used (its --window-frames / --window-overlap)",
  overlap: "the gateway's window plan is used (its --window-frames / --window-overlap)",
  threads: "onnxruntime threads are the services' setting",
  fps: "the decoder service writes the video at the pack's frame rate",
};

/** Checks the combination of flags for a remote run; throws UsageError naming a flag that does not apply. */
export function checkRemoteArgs(argv: readonly string[]): void {
  for (const arg of argv) {
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
    if (name !== undefined && Object.hasOwn(LOCAL_ONLY, name)) {
      throw new UsageError(`--${name}`, `does not apply with --remote: ${LOCAL_ONLY[name]}`);
    }
    if (name === "ep")
      throw new UsageError("--ep", "does not apply with --remote: the services choose their execution provider");
  }
}

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
    remote = remoteAddress(o.get("remote") as string);
    checkRemoteArgs(argv);
  } else if (o.has("remote-http")) {
    throw new UsageError("--remote-http", "applies only with --remote HOST:PORT (the gateway's HTTP API)");
  } else {
    noTlsWithoutRemote(o);
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
    tls: tlsFlags(o),
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
export function asUsage(err: InvalidArgumentError, args: GenerateArgs): UsageError {
  const flag = flagFor(err.field, args);
  const prefix = `${err.field}: `;
  const text = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  const simple = !err.field.includes(".") || err.field === "window.frames" || err.field === "window.overlap";
  return new UsageError(flag, simple ? text : `${err.field}: ${text}`);
}
