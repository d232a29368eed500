/**
 * The files of a remote job in its run folder: the artifacts downloaded through their presigned URLs and checked
 * against their SHA-256, keyframes.png from the gateway's HTTP API, and the eval probe on what was downloaded.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { IntegrityError, LongshotError } from "@longshot/core";
import { DEFAULT_SCALE, decodePng, decodeVideo, digestFile, inspectVideo } from "@longshot/media";
import { isWorldPrompt, type ProbeScore, score } from "@longshot/probe";
import { type Artifact, OutputFormat } from "@longshot/proto";
import { KEYFRAMES_PNG } from "./paths.js";
import type { ProgressReporter } from "./progress.js";
import type { TlsFiles } from "./remote-tls.js";

/** A file of a remote run as result.json lists it; `uri` is where the gateway stored it. */
export interface RemoteFile {
  path: string;
  bytes: number;
  sha256: string;
  uri: string;
}

/** The keyframe preview's URL on the gateway's HTTP API at `base` (OpenAI /v1/videos names it "spritesheet"). */
export function spritesheetUrl(base: string, jobId: string): URL {
  const url = new URL(`v1/videos/${encodeURIComponent(jobId)}/content`, base.endsWith("/") ? base : `${base}/`);
  url.searchParams.set("variant", "spritesheet");
  return url;
}

/** GET `url` (http or https, with the gateway's TLS files): status and body. */
function httpGet(url: URL, tls: TlsFiles, signal: AbortSignal | undefined): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { signal, timeout: 30_000 };
    if (url.protocol === "https:") {
      if (tls.caFile !== undefined) options.ca = readFileSync(tls.caFile);
      if (tls.certFile !== undefined) options.cert = readFileSync(tls.certFile);
      if (tls.keyFile !== undefined) options.key = readFileSync(tls.keyFile);
    }
    const req = (url.protocol === "https:" ? https : http).get(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url.href}: no answer in 30 s`)));
    req.on("error", reject);
  });
}

/**
 * Fetches the job's keyframe preview from the gateway's HTTP API into `outDir`/keyframes.png. The keyframes are
 * stored before their stage_completed event, so a 404 (not there yet) is asked again only briefly.
 */
export async function fetchKeyframes(
  base: string,
  jobId: string,
  outDir: string,
  tls: TlsFiles,
  signal: AbortSignal | undefined,
): Promise<RemoteFile> {
  const url = spritesheetUrl(base, jobId);
  for (let attempt = 1; ; attempt++) {
    const res = await httpGet(url, tls, signal).catch((err: unknown) => {
      throw new LongshotError(`GET ${url.href}: ${(err as Error).message}`, { code: "UNAVAILABLE", cause: err });
    });
    if (res.status === 200) {
      const file = path.join(outDir, KEYFRAMES_PNG);
      await writeFile(file, res.body);
      const got = await digestFile(file);
      return { path: KEYFRAMES_PNG, bytes: got.bytes, sha256: got.sha256, uri: url.href };
    }
    if (res.status !== 404 || attempt >= 5) {
      let why = "";
      try {
        why = (JSON.parse(res.body.toString("utf8")) as { error?: { message?: string } }).error?.message ?? "";
      } catch {
        // not the API's JSON error
      }
      throw new LongshotError(`GET ${url.href}: HTTP ${res.status}${why ? ` (${why})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}

const FILE_NAMES: Record<number, string> = {
  [OutputFormat.OUTPUT_FORMAT_MP4]: "video.mp4",
  [OutputFormat.OUTPUT_FORMAT_GIF]: "video.gif",
};

/** Downloads every artifact through its presigned URL, checking size and SHA-256. */
export async function download(
  artifacts: readonly Artifact[],
  outDir: string,
  progress: ProgressReporter,
  signal: AbortSignal | undefined,
): Promise<RemoteFile[]> {
  const out: RemoteFile[] = [];
  const pngs = artifacts.filter((a) => a.format === OutputFormat.OUTPUT_FORMAT_PNG);
  for (const a of artifacts) {
    const rel =
      a.format === OutputFormat.OUTPUT_FORMAT_PNG
        ? path.join("frames", `${String(a.frame).padStart(Math.max(4, String(pngs.length - 1).length), "0")}.png`)
        : (FILE_NAMES[a.format] ?? path.basename(a.uri));
    if (a.presignedUrl === "") throw new LongshotError(`artifact ${a.uri} has no presigned URL to download it from`);
    progress.phase(`downloading ${rel}`);
    const res = await fetch(a.presignedUrl, signal ? { signal } : {});
    if (!res.ok)
      throw new LongshotError(`GET ${a.uri} (presigned): HTTP ${res.status} ${res.statusText}`, {
        code: "UNAVAILABLE",
      });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const file = path.join(outDir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    const got = await digestFile(file);
    if (got.sha256 !== a.sha256 || BigInt(got.bytes) !== a.bytes) {
      throw new IntegrityError(
        `${rel}: downloaded ${got.bytes} bytes with sha256 ${got.sha256}, the job says ${a.bytes} bytes with sha256 ${a.sha256}`,
      );
    }
    out.push({ path: rel, bytes: got.bytes, sha256: got.sha256, uri: a.uri });
  }
  return out;
}

/** The eval probe on the downloaded video (PNG frames when there are any, else the MP4 at 1/scale), for world prompts. */
export async function probeOf(
  prompt: string,
  outDir: string,
  files: RemoteFile[],
  progress: ProgressReporter,
): Promise<ProbeScore | null> {
  if (!isWorldPrompt(prompt)) return null;
  progress.phase("probing the video");
  const pngs = files.filter((f) => f.path.endsWith(".png")).sort((a, b) => a.path.localeCompare(b.path));
  if (pngs.length > 0) {
    const images = await Promise.all(pngs.map(async (f) => decodePng(await readFile(path.join(outDir, f.path)))));
    const first = images[0];
    if (first === undefined) return null;
    return score({ frames: images.map((i) => i.data), width: first.width, height: first.height }, prompt);
  }
  const mp4 = files.find((f) => f.path === "video.mp4");
  if (mp4 === undefined) return null;
  const file = path.join(outDir, mp4.path);
  const info = await inspectVideo(file);
  const video = await decodeVideo(file, {
    width: Math.max(1, Math.round(info.width / DEFAULT_SCALE)),
    height: Math.max(1, Math.round(info.height / DEFAULT_SCALE)),
  });
  return score({ frames: video.frames, width: video.width, height: video.height }, prompt);
}
