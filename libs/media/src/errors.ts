import { ConfigError, LongshotError } from "@longshot/core";

/** No working ffmpeg was found. `tried` has one line per candidate and why it was not used. */
export class FfmpegNotFoundError extends ConfigError {
  readonly tried: readonly string[];
  constructor(tried: readonly string[]) {
    super(
      `no working ffmpeg found (tried: ${tried.join("; ")}). ` +
        "Install ffmpeg (e.g. apt-get install ffmpeg), or set LONGSHOT_FFMPEG to the path of an ffmpeg binary.",
    );
    this.name = "FfmpegNotFoundError";
    this.tried = tried;
  }
}

/** ffmpeg ran but failed. The message ends with the tail of its stderr. */
export class FfmpegError extends LongshotError {
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  constructor(
    what: string,
    detail: {
      binary: string;
      args: readonly string[];
      exitCode: number | null;
      signal: NodeJS.Signals | null;
      stderr: string;
      cause?: unknown;
    },
  ) {
    const how =
      detail.signal !== null
        ? `was killed by ${detail.signal}`
        : detail.exitCode !== null
          ? `exited with code ${detail.exitCode}`
          : "failed";
    const stderr = detail.stderr.trim();
    super(`${what}: ${detail.binary} ${how}${stderr ? `; ffmpeg said:\n${stderr}` : " (no output on stderr)"}`, {
      code: "INTERNAL",
      cause: detail.cause,
    });
    this.name = "FfmpegError";
    this.args = detail.args;
    this.exitCode = detail.exitCode;
    this.signal = detail.signal;
    this.stderr = detail.stderr;
  }
}
