/** `longshot probe DIR|VIDEO`: what a video shows, scored against a world prompt. */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { decodeVideo, readPng } from "@longshot/media";
import { isWorldPrompt, probe, score } from "@longshot/probe";
import { type OptionSpec, parseArgs, UsageError } from "./args.js";
import { probeHelp } from "./help.js";
import type { CliIo } from "./io.js";
import { readJsonFile } from "./out-dir.js";
import { describeScore } from "./score-text.js";

export const PROBE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  prompt: { meta: "TEXT" },
  size: { meta: "WxH" },
  json: { value: false },
  check: { value: false },
  help: { value: false },
};

/** Exit code of `--check` when the video does not match the prompt. */
export const PROBE_MISMATCH_EXIT = 3;

interface ResultJson {
  prompt?: unknown;
  width?: unknown;
  height?: unknown;
}

async function readResultJson(file: string): Promise<ResultJson | undefined> {
  let v: unknown;
  try {
    v = await readJsonFile(file);
  } catch (err) {
    throw new UsageError("PATH", `${file} is not valid JSON: ${(err as Error).message}`);
  }
  return v !== null && typeof v === "object" ? (v as ResultJson) : undefined;
}

function parseSize(v: string): { width: number; height: number } {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(v.trim());
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || width < 1 || height < 1)
    throw new UsageError("--size", `must be WIDTHxHEIGHT, e.g. 64x64, got ${JSON.stringify(v)}`);
  return { width, height };
}

interface LoadedClip {
  frames: Uint8Array[];
  width: number;
  height: number;
  source: string;
  result: ResultJson | undefined;
}

async function loadFrames(dir: string): Promise<{ frames: Uint8Array[]; width: number; height: number } | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^\d+\.png$/.test(n));
  } catch {
    return undefined;
  }
  if (names.length === 0) return undefined;
  names.sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for (const [i, name] of names.entries()) {
    const img = await readPng(path.join(dir, name));
    if (i === 0) {
      width = img.width;
      height = img.height;
    } else if (img.width !== width || img.height !== height) {
      throw new UsageError(
        "PATH",
        `${path.join(dir, name)} is ${img.width}x${img.height} but ${names[0]} is ${width}x${height}`,
      );
    }
    frames.push(img.data);
  }
  return { frames, width, height };
}

async function loadClip(target: string, size: { width: number; height: number } | undefined): Promise<LoadedClip> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(target);
  } catch {
    throw new UsageError("PATH", `${target} does not exist`);
  }
  if (st.isDirectory()) {
    const result = await readResultJson(path.join(target, "result.json"));
    const fromPng = size === undefined ? await loadFrames(path.join(target, "frames")) : undefined;
    if (fromPng) return { ...fromPng, source: path.join(target, "frames"), result };
    const video = path.join(target, "video.mp4");
    try {
      await stat(video);
    } catch {
      throw new UsageError("PATH", `${target} has neither frames/NNNN.png nor video.mp4`);
    }
    return { ...(await decode(video, size ?? sizeFrom(result))), source: video, result };
  }
  const result = await readResultJson(path.join(path.dirname(target), "result.json"));
  return { ...(await decode(target, size ?? sizeFrom(result))), source: target, result };
}

function sizeFrom(result: ResultJson | undefined): { width: number; height: number } | undefined {
  const w = result?.width;
  const h = result?.height;
  return Number.isInteger(w) && Number.isInteger(h) && (w as number) > 0 && (h as number) > 0
    ? { width: w as number, height: h as number }
    : undefined;
}

async function decode(file: string, size: { width: number; height: number } | undefined) {
  const v = await decodeVideo(file, size ?? {});
  if (v.frames.length === 0) throw new UsageError("PATH", `${file} has no frames`);
  return { frames: v.frames, width: v.width, height: v.height };
}

export async function probeCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { options: o, positionals } = parseArgs(argv, PROBE_OPTIONS);
  if (o.has("help")) {
    io.stdout.write(probeHelp());
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("PATH", "missing: give an output folder or a video file");
  if (positionals.length > 1) {
    throw new UsageError(JSON.stringify(positionals[1]), "unexpected argument; probe takes one PATH");
  }
  const target = path.resolve(positionals[0] as string);
  const size = o.has("size") ? parseSize(o.get("size") as string) : undefined;
  const clip = await loadClip(target, size);
  const prompt = o.get("prompt") ?? (typeof clip.result?.prompt === "string" ? clip.result.prompt : undefined);
  if (prompt === undefined) {
    throw new UsageError("--prompt", "is required (there is no result.json with a prompt next to the video)");
  }
  const video = { frames: clip.frames, width: clip.width, height: clip.height };
  const s = score(video, prompt);
  const tracks = probe(video);
  if (o.has("json")) {
    io.stdout.write(
      `${JSON.stringify(
        {
          path: clip.source,
          frames: clip.frames.length,
          width: clip.width,
          height: clip.height,
          prompt,
          worldPrompt: isWorldPrompt(prompt),
          score: s,
          tracks: { xs: tracks.xs, ys: tracks.ys, sizes: tracks.sizes },
        },
        null,
        2,
      )}\n`,
    );
  } else {
    const lines = [
      `${clip.source}: ${clip.frames.length} frames, ${clip.width}x${clip.height}`,
      `prompt: ${JSON.stringify(prompt)}${isWorldPrompt(prompt) ? "" : " (names no world colour, shape and motion)"}`,
      `probe: ${describeScore(s)}`,
      `match: ${s.ok ? "yes" : "no"}`,
    ];
    io.stdout.write(`${lines.join("\n")}\n`);
  }
  return o.has("check") && !s.ok ? PROBE_MISMATCH_EXIT : 0;
}
