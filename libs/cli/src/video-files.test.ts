/** video.mp4 and video.gif play at the run's frame rate: the MP4 at any rate, the GIF at most 50 fps (ffmpeg). */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeVideo, inspectVideo } from "@longshot/media";
import { writeVideoFiles } from "./video-files.js";

/** `n` frames of 16x16 with a white column moving one pixel per frame. */
function clip(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const f = new Uint8Array(16 * 16 * 3).fill(20);
    for (let y = 0; y < 16; y++) f.fill(235, (y * 16 + (i % 16)) * 3, (y * 16 + (i % 16)) * 3 + 3);
    return f;
  });
}

describe("writeVideoFiles: the frame rate of video.mp4 and video.gif", { timeout: 120_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "longshot-video-files-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases = [
    // 257 frames at 64 fps (the default for --frames 257 of a 16 fps pack): the GIF keeps every 2nd frame at 32 fps.
    { frames: 257, fps: 64, gif: { fps: 32, frameStep: 2, frames: 129 } },
    // 65 frames at 16 fps: every frame.
    { frames: 65, fps: 16, gif: { fps: 16, frameStep: 1, frames: 65 } },
    // --fps 30 on 17 frames.
    { frames: 17, fps: 30, gif: { fps: 30, frameStep: 1, frames: 17 } },
  ];
  for (const c of cases) {
    test(`${c.frames} frames at ${c.fps} fps: both files last ${(c.frames / c.fps).toFixed(2)} s`, async () => {
      const out = path.join(dir, `${c.frames}-${c.fps}`);
      const files = await writeVideoFiles(
        out,
        { frames: clip(c.frames), width: 16, height: 16, fps: c.fps },
        { scale: 2, png: false },
      );
      assert.deepEqual(files.gif, c.gif);
      assert.deepEqual(
        files.files.map((f) => f.path),
        ["video.mp4", "video.gif"],
      );
      const seconds = c.frames / c.fps;

      const mp4 = await inspectVideo(path.join(out, "video.mp4"));
      assert.equal(mp4.fps, c.fps, "MP4 frame rate");
      assert.ok(Math.abs((mp4.durationSeconds ?? 0) - seconds) < 0.1, `MP4 lasts ${mp4.durationSeconds} s`);
      assert.equal((await decodeVideo(path.join(out, "video.mp4"))).frames.length, c.frames);

      // A GIF frame delay under 2/100 s plays as 10/100 s: a 64 fps GIF of 257 frames would last 14 s.
      const gif = await inspectVideo(path.join(out, "video.gif"));
      const gifSeconds = c.gif.frames / c.gif.fps;
      assert.ok(
        Math.abs((gif.durationSeconds ?? 0) - gifSeconds) < 0.1,
        `GIF lasts ${gif.durationSeconds} s, not ${gifSeconds.toFixed(2)} s`,
      );
      assert.ok(Math.abs((gif.durationSeconds ?? 0) - seconds) < 0.1, "GIF and MP4 play the same seconds");
      assert.equal((await decodeVideo(path.join(out, "video.gif"))).frames.length, c.gif.frames);
    });
  }
});
