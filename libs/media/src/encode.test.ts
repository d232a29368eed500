import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { decodeVideo, inspectVideo, parseFfmpegInfo } from "./decode.js";
import { encodeGif, encodeMp4, frameFileName, type RgbVideo, writePngFrames, writeVideoOutputs } from "./encode.js";
import { type FfmpegBinary, findFfmpeg } from "./ffmpeg.js";
import { decodePng, encodePng, readPng } from "./png.js";

const W = 64;
const H = 48;
const BG = [13, 20, 89] as const;
const FG = [230, 25, 25] as const;

/** A square of side 12 moving 2 px right per frame on a flat background. */
function clip(n: number, width = W, height = H): RgbVideo {
  const frames: Uint8Array[] = [];
  for (let t = 0; t < n; t++) {
    const f = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const on = x >= 8 + 2 * t && x < 20 + 2 * t && y >= 18 && y < 30;
        const c = on ? FG : BG;
        f.set(c, (y * width + x) * 3);
      }
    }
    frames.push(f);
  }
  return { frames, width, height, fps: 16 };
}

/** Top-level MP4 box types in file order. */
function topLevelBoxes(bytes: Buffer): string[] {
  const types: string[] = [];
  let off = 0;
  while (off + 8 <= bytes.length) {
    let size = bytes.readUInt32BE(off);
    const type = bytes.toString("latin1", off + 4, off + 8);
    if (size === 1) size = Number(bytes.readBigUInt64BE(off + 8));
    if (size === 0) size = bytes.length - off;
    types.push(type);
    if (size < 8) break;
    off += size;
  }
  return types;
}

function maxAbsDiff(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: sum / a.length };
}

const binaries: Array<{ label: string; get: () => Promise<FfmpegBinary> }> = [
  { label: "the discovered ffmpeg", get: () => findFfmpeg() },
  {
    label: "the npm @ffmpeg-installer build",
    get: () =>
      findFfmpeg({
        env: { LONGSHOT_FFMPEG: (createRequire(import.meta.url)("@ffmpeg-installer/ffmpeg") as { path: string }).path },
      }),
  },
];

describe("PNG", () => {
  test("RGB round trip is exact", () => {
    const v = clip(1);
    const png = encodePng({ data: v.frames[0] as Uint8Array, width: W, height: H });
    assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(""), "PNG");
    assert.equal(png[25], 2, "colour type 2 (RGB, no alpha)");
    const back = decodePng(png);
    assert.equal(back.width, W);
    assert.equal(back.height, H);
    assert.deepEqual(back.data, v.frames[0]);
  });

  test("rejects a frame of the wrong size, naming it", () => {
    assert.throws(
      () => encodePng({ data: new Uint8Array(10), width: 4, height: 4 }),
      (err: unknown) => err instanceof InvalidArgumentError && /expected 4\*4\*3 = 48/.test(err.message),
    );
    assert.throws(() => decodePng(new Uint8Array([1, 2, 3]), "x.png"), /x\.png: not a readable PNG/);
  });
});

describe("encoding", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "longshot-media-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const bin of binaries) {
    test(`MP4 with ${bin.label}: H.264 yuv420p, faststart, right frame count and size, close pixels`, async () => {
      const ffmpeg = await bin.get();
      const video = clip(17);
      const file = path.join(dir, `${ffmpeg.source.replace(/\W/g, "")}.mp4`);
      const size = await encodeMp4(file, video, { ffmpeg });
      assert.deepEqual(size, { width: 4 * W, height: 4 * H });

      const info = await inspectVideo(file, { ffmpeg });
      assert.equal(info.codec, "h264");
      assert.equal(info.pixelFormat, "yuv420p");
      assert.ok(info.pixelFormatDetails.includes("bt709"), `colour tags: ${info.pixelFormatDetails.join(",")}`);
      assert.equal(info.width, 4 * W);
      assert.equal(info.height, 4 * H);
      assert.equal(info.fps, 16);

      const boxes = topLevelBoxes(await readFile(file));
      assert.ok(boxes.includes("moov") && boxes.includes("mdat"), boxes.join(","));
      assert.ok(boxes.indexOf("moov") < boxes.indexOf("mdat"), `moov must precede mdat (faststart): ${boxes}`);

      // Native size: every 4x4 block is one source pixel.
      const native = await decodeVideo(file, { ffmpeg });
      assert.equal(native.frames.length, 17);
      assert.equal(native.width, 4 * W);
      const centre = (f: Uint8Array, x: number, y: number) =>
        [...f.subarray((y * 4 * W + x) * 3, (y * 4 * W + x) * 3 + 3)] as number[];
      for (const [x, y, want] of [
        [4 * 2 + 2, 4 * 2 + 2, BG],
        [4 * 12 + 2, 4 * 22 + 2, FG],
      ] as const) {
        const got = centre(native.frames[2] as Uint8Array, x, y);
        got.forEach((v, c) => {
          assert.ok(Math.abs(v - (want[c] as number)) <= 6, `pixel ${x},${y}: ${got} vs ${want}`);
        });
      }

      // Scaled back to the source size: close to the source everywhere.
      const back = await decodeVideo(file, { ffmpeg, width: W, height: H });
      assert.equal(back.frames.length, 17);
      for (let t = 0; t < 17; t++) {
        const d = maxAbsDiff(back.frames[t] as Uint8Array, video.frames[t] as Uint8Array);
        assert.ok(d.max <= 12 && d.mean <= 2, `frame ${t}: max ${d.max}, mean ${d.mean.toFixed(2)}`);
      }
    });

    test(`GIF with ${bin.label}: one picture per frame, scaled, looping`, async () => {
      const ffmpeg = await bin.get();
      const video = clip(9);
      const file = path.join(dir, `${ffmpeg.source.replace(/\W/g, "")}.gif`);
      await encodeGif(file, video, { ffmpeg, scale: 2 });
      const bytes = await readFile(file);
      assert.equal(bytes.toString("latin1", 0, 6), "GIF89a");
      assert.ok(bytes.includes(Buffer.from("NETSCAPE2.0", "latin1")), "loop extension");
      const info = await inspectVideo(file, { ffmpeg });
      assert.equal(info.codec, "gif");
      assert.equal(info.width, 2 * W);
      const back = await decodeVideo(file, { ffmpeg, width: W, height: H });
      assert.equal(back.frames.length, 9);
      // Flat colours survive palette quantisation closely.
      const d = maxAbsDiff(back.frames[4] as Uint8Array, video.frames[4] as Uint8Array);
      assert.ok(d.mean <= 3, `mean diff ${d.mean}`);
    });
  }

  test("writeVideoOutputs writes frames, MP4 and GIF with sizes and hashes", async () => {
    const out = path.join(dir, "outputs");
    const video = clip(5);
    const res = await writeVideoOutputs(out, video);
    assert.deepEqual(
      res.files.map((f) => f.path),
      [
        "frames/0000.png",
        "frames/0001.png",
        "frames/0002.png",
        "frames/0003.png",
        "frames/0004.png",
        "video.mp4",
        "video.gif",
      ],
    );
    for (const f of res.files) {
      const bytes = await readFile(path.join(out, f.path));
      assert.equal(bytes.length, f.bytes);
      const { createHash } = await import("node:crypto");
      assert.equal(createHash("sha256").update(bytes).digest("hex"), f.sha256);
    }
    assert.equal(res.videoWidth, 256);
    assert.equal(res.videoHeight, 192);
    const png = await readPng(path.join(out, "frames", "0003.png"));
    assert.deepEqual(png.data, video.frames[3]);
    // No temporary files left behind.
    assert.deepEqual((await readdir(out)).sort(), ["frames", "video.gif", "video.mp4"]);
  });

  test("writePngFrames clears frames left by an earlier, longer run", async () => {
    const frames = path.join(dir, "stale");
    await writePngFrames(frames, clip(7));
    await writeFile(path.join(frames, "notes.txt"), "kept");
    await writePngFrames(frames, clip(3));
    assert.deepEqual((await readdir(frames)).sort(), ["0000.png", "0001.png", "0002.png", "notes.txt"]);
  });

  test("frame names have four digits, more when needed", () => {
    assert.equal(frameFileName(0, 65), "0000.png");
    assert.equal(frameFileName(256, 257), "0256.png");
    assert.equal(frameFileName(12, 10001), "00012.png");
  });

  test("bad inputs are rejected before ffmpeg runs, naming what is wrong", async () => {
    const file = path.join(dir, "bad.mp4");
    const good = clip(2);
    await assert.rejects(encodeMp4(file, { ...good, frames: [] }), { name: "InvalidArgumentError", field: "frames" });
    await assert.rejects(encodeMp4(file, { ...good, frames: [good.frames[0] as Uint8Array, new Uint8Array(5)] }), {
      name: "InvalidArgumentError",
      field: "frames[1]",
    });
    await assert.rejects(encodeMp4(file, { ...good, fps: 0 }), { name: "InvalidArgumentError", field: "fps" });
    await assert.rejects(encodeMp4(file, good, { scale: 0 }), { name: "InvalidArgumentError", field: "scale" });
    await assert.rejects(encodeMp4(file, clip(2, 63, 63), { scale: 1 }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.field, "scale");
      assert.match(err.message, /even width and height; 63x63 scaled by 1 is 63x63/);
      return true;
    });
    await assert.rejects(encodeMp4(file, good, { crf: 99 }), { name: "InvalidArgumentError", field: "crf" });
    await assert.rejects(stat(file), { code: "ENOENT" });
  });

  test("decoding a file that is not a video names the file", async () => {
    const file = path.join(dir, "not-a-video.mp4");
    await writeFile(file, "hello");
    await assert.rejects(inspectVideo(file), /not-a-video\.mp4 has no video stream that ffmpeg can read/);
    await assert.rejects(inspectVideo(path.join(dir, "missing.mp4")), { name: "NotFoundError" });
  });
});

describe("parseFfmpegInfo", () => {
  test("reads codec, pixel format, size and fps from ffmpeg 5 and 2018 outputs", () => {
    const v5 = `Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'video.mp4':
  Duration: 00:00:04.06, start: 0.000000, bitrate: 45 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 256x256 [SAR 1:1 DAR 1:1], 38 kb/s, 16 fps, 16 tbr, 16384 tbn (default)`;
    const info = parseFfmpegInfo(v5);
    assert.equal(info.codec, "h264");
    assert.equal(info.pixelFormat, "yuv420p");
    assert.deepEqual(info.pixelFormatDetails, ["tv", "bt709", "progressive"]);
    assert.equal(info.width, 256);
    assert.equal(info.height, 256);
    assert.equal(info.fps, 16);
    assert.equal(info.durationSeconds, 4.06);
    assert.equal(info.container, "mov,mp4,m4a,3gp,3g2,mj2");
    const gif = `Input #0, gif, from 'video.gif':
  Duration: N/A, bitrate: N/A
    Stream #0:0: Video: gif, bgra, 128x96, 16.17 fps, 16.67 tbr, 100 tbn, 100 tbc`;
    const g = parseFfmpegInfo(gif);
    assert.equal(g.codec, "gif");
    assert.equal(g.pixelFormat, "bgra");
    assert.equal(g.width, 128);
    assert.equal(g.height, 96);
    assert.equal(g.fps, 16.17);
    assert.equal(g.durationSeconds, undefined);
  });

  test("no video stream is an error", () => {
    assert.throws(
      () => parseFfmpegInfo("x.wav: Invalid data found when processing input", "x.wav"),
      /x\.wav has no video/,
    );
  });
});
