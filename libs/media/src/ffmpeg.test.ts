import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { FfmpegError, FfmpegNotFoundError } from "./errors.js";
import { findFfmpeg, runFfmpeg } from "./ffmpeg.js";

const npmFfmpeg = (createRequire(import.meta.url)("@ffmpeg-installer/ffmpeg") as { path: string }).path;

describe("findFfmpeg", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "longshot-ffmpeg-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("finds a working ffmpeg with libx264 in the default environment", async () => {
    const ff = await findFfmpeg();
    assert.ok(path.isAbsolute(ff.path));
    assert.ok(["LONGSHOT_FFMPEG", "PATH", "@ffmpeg-installer/ffmpeg"].includes(ff.source));
    assert.match(ff.version, /\S/);
  });

  test("LONGSHOT_FFMPEG wins over PATH", async () => {
    const ff = await findFfmpeg({ env: { LONGSHOT_FFMPEG: npmFfmpeg, PATH: "/usr/bin:/bin" } });
    assert.equal(ff.source, "LONGSHOT_FFMPEG");
    assert.equal(ff.path, npmFfmpeg);
  });

  test("a LONGSHOT_FFMPEG that does not exist is an error naming it, with no silent fallback", async () => {
    const missing = path.join(dir, "no-such-ffmpeg");
    await assert.rejects(findFfmpeg({ env: { LONGSHOT_FFMPEG: missing, PATH: "/usr/bin:/bin" } }), (err: unknown) => {
      assert.ok(err instanceof FfmpegNotFoundError);
      assert.match(err.message, /LONGSHOT_FFMPEG=.*no-such-ffmpeg: no such file/);
      return true;
    });
  });

  test("a LONGSHOT_FFMPEG that is not ffmpeg is rejected", async () => {
    const fake = path.join(dir, "fake-ffmpeg");
    await writeFile(fake, "#!/bin/sh\necho 'hello from a fake'\n");
    await chmod(fake, 0o755);
    await assert.rejects(findFfmpeg({ env: { LONGSHOT_FFMPEG: fake } }), /fake-ffmpeg: does not look like ffmpeg/);
  });

  test("an ffmpeg without libx264 on PATH is skipped with its reason", async () => {
    const bin = path.join(dir, "bin");
    await rm(bin, { recursive: true, force: true });
    await (await import("node:fs/promises")).mkdir(bin);
    const fake = path.join(bin, "ffmpeg");
    // Answers -version like ffmpeg but lists no encoders.
    await writeFile(fake, '#!/bin/sh\nif [ "$2" = "-version" ]; then echo "ffmpeg version 0.0-test"; fi\nexit 0\n');
    await chmod(fake, 0o755);
    await assert.rejects(findFfmpeg({ env: { PATH: bin }, npmFallback: false }), (err: unknown) => {
      assert.ok(err instanceof FfmpegNotFoundError);
      assert.match(err.message, /ffmpeg on PATH at .*bin\/ffmpeg \(ffmpeg 0\.0-test has no libx264 encoder\)/);
      return true;
    });
    const ff = await findFfmpeg({ env: { PATH: bin } });
    assert.equal(ff.source, "@ffmpeg-installer/ffmpeg");
  });

  test("with nothing to find, the error lists every candidate tried", async () => {
    const empty = path.join(dir, "empty");
    await assert.rejects(findFfmpeg({ env: { PATH: empty }, npmFallback: false }), (err: unknown) => {
      assert.ok(err instanceof FfmpegNotFoundError);
      assert.equal(err.tried.length, 3);
      assert.match(err.message, /LONGSHOT_FFMPEG \(not set\)/);
      assert.match(err.message, /ffmpeg on PATH \(not found in PATH=/);
      assert.match(err.message, /@ffmpeg-installer\/ffmpeg \(fallback disabled\)/);
      assert.match(err.message, /set LONGSHOT_FFMPEG/);
      return true;
    });
  });

  test("falls back to the npm package's binary when PATH has none", async () => {
    const ff = await findFfmpeg({ env: { PATH: path.join(dir, "empty") } });
    assert.equal(ff.source, "@ffmpeg-installer/ffmpeg");
    assert.equal(ff.path, npmFfmpeg);
  });
});

describe("runFfmpeg", () => {
  test("a failing ffmpeg run rejects with its exit code and stderr", async () => {
    const ff = await findFfmpeg();
    const frame = new Uint8Array(4 * 4 * 3);
    const args = ["-hide_banner", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "4x4", "-i", "pipe:0"];
    await assert.rejects(
      runFfmpeg(ff, [...args, "-c:v", "no-such-codec-xyz", "-f", "null", "-"], {
        input: [frame, frame],
        what: "encoding a test clip",
      }),
      (err: unknown) => {
        assert.ok(err instanceof FfmpegError);
        assert.notEqual(err.exitCode, 0);
        assert.match(err.message, /^encoding a test clip: .*ffmpeg exited with code \d+; ffmpeg said:/);
        assert.match(err.stderr, /no-such-codec-xyz/);
        return true;
      },
    );
  });

  test("an aborted run is cancelled", async () => {
    const ff = await findFfmpeg();
    const ac = new AbortController();
    // Reads from stdin forever (input never ends until aborted).
    const endless = (function* () {
      const frame = new Uint8Array(64 * 64 * 3);
      for (;;) yield frame;
    })();
    const run = runFfmpeg(
      ff,
      ["-hide_banner", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64", "-i", "pipe:0", "-f", "null", "-"],
      { input: endless, what: "endless", signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(run, { name: "CancelledError" });
  });
});
