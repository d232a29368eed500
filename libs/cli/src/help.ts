import { MAX_GUIDANCE, SCHEDULER_NAMES } from "@longshot/engine";
import { BUNDLED_PACK } from "./paths.js";

export const FRAME_COUNTS = ["17", "65", "257"] as const;
export const EXECUTION_PROVIDERS = ["cpu", "cuda"] as const;

export function mainHelp(): string {
  return `longshot: long videos from a text prompt (keyframes, interpolation, VAE decode).

Usage:
  longshot generate --prompt "…" [options]   generate a video (longshot generate --help)
  longshot list [--out DIR | --remote H:P]    the runs in an output root, or a gateway's jobs (longshot list --help)
  longshot probe DIR|VIDEO [--prompt "…"]     score a video with the eval probe (longshot probe --help)
  longshot serve [--port N] [--out DIR]       the HTTP API (and web page) on this machine (longshot serve --help)
  longshot --help | --version

Example:
  longshot generate --prompt "a red circle moving right on a dark blue background" --seed 7

Exit codes: 0 done, 1 failed, 2 bad arguments or pack, 130 interrupted.
`;
}

export function generateHelp(): string {
  return `Usage: longshot generate --prompt "…" [options]

Generates a video in one process with a model pack and writes
  DIR/frames/0000.png …   every frame, at the pack's size
  DIR/video.mp4           H.264 (yuv420p, faststart), upscaled with nearest-neighbour
  DIR/video.gif           looping GIF, same size as the MP4
  DIR/keyframes.png       the keyframes side by side, drawn from their latents with the pack's preview map
                          (no VAE) as soon as they exist, while the rest runs; its path is printed then
  DIR/result.json         prompt, seed, pack, settings, timings, keyframe indices, probe score, file hashes
A prompt word the pack never saw in training (pack.json text.vocabulary) gets a warning on stderr.

Options:
  --prompt TEXT              what the video shows (required)
  --seed N                   integer in [0, 2^64 - 1]; default: a random one (printed, and in result.json)
  --num-videos N             N videos (1 to 1000) at seeds s, s + 1, … (s: --seed, else a random one) in one
                             process, the models loaded once; one folder each: out/<slug>-<seed>, or
                             DIR/<slug>-<seed> with --out DIR; with --remote, one job after the other
  --frames 17|65|257         video length (keyframes 5 → 17 → 65 → 257); default: the pack's (65)
  --fps N                    frame rate of video.mp4 and video.gif, an integer in [1, 240]; default: the pack's
                             (16), times 4 for 257 frames (the same seconds of motion as 65, smoother); a GIF
                             above 50 fps keeps every 2nd (3rd, …) frame at half (a third, …) the rate
  --steps N                  denoising steps of both stages; default: the pack's (25 keyframe, 10 interpolation)
  --keyframe-steps N         steps of the keyframe stage only
  --interpolation-steps N    steps of each interpolation pass only
  --guidance G               classifier-free guidance of both stages, in [1, ${MAX_GUIDANCE}] (1 = none); default: the pack's
  --keyframe-guidance G      guidance of the keyframe stage only
  --interpolation-guidance G guidance of the interpolation passes only
  --interpolation-strength S share of each interpolation pass's steps run, in (0, 1]: 1 starts the new frames
                             from noise, less from the known frames blended across each gap; default: the pack's
  --negative-prompt TEXT     unconditional text for guidance (default "")
  --mode pinned|seed         interpolation: keyframe slots pinned to the keyframes (default) or regenerated
  --sampler ${SCHEDULER_NAMES.join("|")}
                             default: the pack's (ddim)
  --window N --overlap N     run interpolation passes longer than N frames as overlapping windows of N frames
                             (N ≡ 1 mod 4; default 17, the gateway's plan, so the video equals a --remote run's);
                             overlap in frames, a multiple of 4 (default 4, or 0 to fit); --window 257 runs
                             every level as one whole pass
  --noise FILE.safetensors   initial noise instead of the seed's (keys keyframes, interp1, interp2, …)
  --pack DIR                 model pack; default: $LONGSHOT_PACK, else ${BUNDLED_PACK} in the repository
  --out DIR                  output folder; default: out/<slug-of-prompt>-<seed> (longshot list shows them)
  --scale N                  upscale of video.mp4 and video.gif (integer, default 4: 64x64 → 256x256)
  --threads N                onnxruntime threads per session; default: onnxruntime decides
  --ep cpu|cuda              execution provider (default cpu; cuda never falls back to cpu)
  --remote HOST:PORT         run on a longshot gateway (scripts/cluster up) instead of in-process: the job is
                             submitted with Generate, followed with WatchJob, and video.mp4, video.gif (and PNG
                             frames when the gateway made them) are downloaded through their presigned URLs and
                             checked against their SHA-256; --pack then names a pack the gateway serves (default:
                             its default pack); --noise, --window, --overlap, --fps, --threads and --ep do not apply;
                             no unknown-word warning (the gateway holds the pack); Ctrl-C cancels the job
  --remote-http URL          with --remote: the gateway's HTTP API (e.g. http://127.0.0.1:8080, same TLS as
                             --remote): keyframes.png is fetched from it (GET /v1/videos/{id}/content?variant=
                             spritesheet) as soon as the keyframe stage completes; without it, no keyframes.png
  --tls-ca FILE              with --remote: TLS, the gateway's certificate checked against this PEM CA bundle;
                             default: $LONGSHOT_GRPC_TLS_CA
  --tls-cert FILE --tls-key FILE
                             with --remote: present this client certificate (PEM) to a gateway that requires one
                             (mutual TLS); default: $LONGSHOT_GRPC_TLS_CERT and $LONGSHOT_GRPC_TLS_KEY
  --tls                      with --remote: TLS checked against the system's root CAs (no --tls-ca needed)
  --quiet                    no progress output
  -h, --help                 this help

Progress goes to stderr (a redrawn bar on a terminal, plain lines otherwise); the summary to stdout.
Environment: LONGSHOT_PACK (default pack), LONGSHOT_FFMPEG (ffmpeg binary; else ffmpeg on PATH, else the
npm package @ffmpeg-installer/ffmpeg), LONGSHOT_GRPC_TLS_CA / _CERT / _KEY (--remote over TLS, see above).
`;
}

export function listHelp(): string {
  return `Usage: longshot list [--out DIR] [--json] [--limit N]
       longshot list --remote HOST:PORT [--tls | --tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--json] [--limit N]

Lists the runs in an output root, newest first: the folders of longshot generate (result.json; a folder with
outputs but no result.json yet is "unfinished": still running, or stopped), of generate --remote, and the job
folders of longshot serve (job.json), down to three levels (generate --num-videos --out DIR puts them in DIR/).
With --remote, the jobs of a longshot gateway instead (ListJobs, every page).

Each run: when it was created (UTC), its state (queued, running, succeeded, failed, cancelled, unfinished), seed,
frames, prompt and video (its video.mp4; on a gateway the artifact's URI), else its folder or job id.

Options:
  --out DIR                  output root (default: out, where generate and serve write by default)
  --remote HOST:PORT         list a gateway's jobs instead; --tls, --tls-ca, --tls-cert and --tls-key as for
                             generate --remote (default: $LONGSHOT_GRPC_TLS_CA / _CERT / _KEY)
  --limit N                  the newest N only
  --json                     a JSON array: id, source, prompt, seed (a string), frames, state, createdAt, video,
                             dir, error for each run
  -h, --help                 this help
`;
}

export function probeHelp(): string {
  return `Usage: longshot probe DIR|VIDEO [--prompt "…"] [--json] [--check] [--size WxH]

Scores a video with the eval probe (colour, shape, motion, background, smoothness) against a prompt of the
synthetic shapes world, e.g. "a red circle moving right on a dark blue background".

  DIR                 an output folder of longshot generate: reads DIR/frames/*.png (else DIR/video.mp4)
                      and, without --prompt, the prompt in DIR/result.json
  VIDEO               any video ffmpeg reads (mp4, gif, …)
  --prompt TEXT       what the video should show
  --size WxH          resample a VIDEO to this size first (default: the width/height in a result.json next
                      to it, else the video's own size); the probe's thresholds are in pixels of 64x64 frames
  --json              print the score and the object's tracks as JSON
  --check             exit with code 3 unless colour, shape, motion, background and smoothness all match
  -h, --help          this help
`;
}

export function serveHelp(): string {
  return `Usage: longshot serve [options]

Serves the HTTP JSON API of the gateway (docs/http-api.md: POST /v1/videos, GET /v1/videos/{id}/events,
/content, /openapi.json, …) from this process, with the embedded engine: no NATS, S3 or gRPC. Prints the URL
it listens on. Jobs run one at a time with the pack's models loaded once; each job has its own folder
OUT/<job id>/ (job.json with its settings and events, keyframes.safetensors, video.mp4 …), so a restarted
serve lists and serves the jobs of the last one. A job that was running when the process died is listed as
failed. Ctrl-C or SIGTERM stops: the running job and the queued ones are cancelled, then it exits 0.

Options:
  --host ADDRESS             address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)
  --port N                   port (default 8080; 0 picks a free one, printed)
  --out DIR                  output root, one folder per job (default: out)
  --pack DIR                 model pack; default: $LONGSHOT_PACK, else ${BUNDLED_PACK} in the repository
  --threads N                onnxruntime threads per session; default: onnxruntime decides
  --ep cpu|cuda              execution provider (default cpu; cuda never falls back to cpu)
  --max-active-jobs N        jobs queued or running at most (default 16); beyond, POST /v1/videos answers 429
  --quiet                    log warnings and errors only
  -h, --help                 this help
`;
}
