import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import type { ProgressEvent } from "@longshot/engine";
import { parseArgs, suggest, UsageError } from "./args.js";
import { defaultOverlap, outDirs, seedAt } from "./generate.js";
import { parseGenerateArgs } from "./generate-args.js";
import { defaultFps } from "./generate-into.js";
import { defaultOutDir, defaultPackDir, REPO_ROOT, slugify } from "./paths.js";
import { formatDuration, ProgressReporter } from "./progress.js";
import { gifTiming } from "./video-files.js";
import { promptWords, unknownWords, unknownWordsWarning } from "./vocabulary.js";

describe("parseGenerateArgs", () => {
  test("--steps and --guidance set both stages; per-stage flags override", () => {
    const a = parseGenerateArgs([
      "--prompt",
      "x",
      "--steps",
      "3",
      "--guidance=4.5",
      "--interpolation-steps",
      "7",
      "--keyframe-guidance",
      "1",
      "--interpolation-strength",
      "0.7",
    ]);
    assert.notEqual(a, "help");
    if (a === "help") return;
    assert.equal(a.keyframeSteps, 3);
    assert.equal(a.interpolationSteps, 7);
    assert.equal(a.keyframeGuidance, 1);
    assert.equal(a.interpolationGuidance, 4.5);
    assert.equal(a.interpolationStrength, 0.7);
    assert.equal(a.flags.interpolationSteps, "--interpolation-steps");
    assert.equal(a.flags.keyframeSteps, "--steps");
  });

  test("defaults and value forms", () => {
    const a = parseGenerateArgs([
      "--prompt",
      "-a dash-led prompt",
      "--seed",
      "18446744073709551615",
      "--frames",
      "257",
    ]);
    if (a === "help") throw new Error("unexpected help");
    assert.equal(a.prompt, "-a dash-led prompt");
    assert.equal(a.seed, 18446744073709551615n);
    assert.equal(a.frames, 257);
    assert.equal(a.scale, 4);
    assert.equal(a.ep, "cpu");
    assert.equal(a.keyframeSteps, undefined);
    assert.equal(a.quiet, false);
    const b = parseGenerateArgs(["--prompt=x", "--seed=12", "--quiet"]);
    if (b === "help") throw new Error("unexpected help");
    assert.equal(b.seed, 12);
    assert.equal(b.quiet, true);
    assert.equal(parseGenerateArgs(["-h"]), "help");
  });

  test("errors are UsageErrors naming the flag", () => {
    assert.throws(
      () => parseGenerateArgs(["--prompt", "x", "--frames", "64"]),
      (err: unknown) => err instanceof UsageError && err.arg === "--frames",
    );
    // --steps is checked even when both stages have their own flag.
    assert.throws(
      () => parseGenerateArgs(["--prompt", "x", "--steps", "0", "--keyframe-steps", "2", "--interpolation-steps", "2"]),
      (err: unknown) => err instanceof UsageError && err.arg === "--steps",
    );
  });
});

describe("frame rate", () => {
  test("--fps N: an integer in [1, 240]; absent: undefined (the default applies)", () => {
    const a = parseGenerateArgs(["--prompt", "x", "--fps", "30"]);
    assert.ok(a !== "help");
    assert.equal(a.fps, 30);
    const b = parseGenerateArgs(["--prompt", "x"]);
    assert.ok(b !== "help");
    assert.equal(b.fps, undefined);
    for (const bad of ["0", "-1", "2.5", "x", "241"]) {
      assert.throws(
        () => parseGenerateArgs(["--prompt", "x", "--fps", bad]),
        (e: unknown) => {
          return e instanceof UsageError && e.arg === "--fps";
        },
      );
    }
  });

  test("default: the pack's fps, times 4 for 257 frames of a 65-frame pack (the same seconds of motion)", () => {
    const pack = { fps: 16, defaultFrames: 65 };
    assert.equal(defaultFps(pack, 17), 16);
    assert.equal(defaultFps(pack, 65), 16);
    assert.equal(defaultFps(pack, 257), 64);
    assert.equal(defaultFps({ fps: 8, defaultFrames: 17 }, 65), 32);
  });

  test("GIF: at most 50 fps; above, every k-th frame at fps / k", () => {
    assert.deepEqual(gifTiming(16, 65), { fps: 16, frameStep: 1, frames: 65 });
    assert.deepEqual(gifTiming(50, 257), { fps: 50, frameStep: 1, frames: 257 });
    assert.deepEqual(gifTiming(64, 257), { fps: 32, frameStep: 2, frames: 129 });
    assert.deepEqual(gifTiming(120, 257), { fps: 40, frameStep: 3, frames: 86 });
  });
});

describe("args", () => {
  test("parseArgs: -- ends options; unknown long options get a suggestion", () => {
    const r = parseArgs(["a", "--x", "1", "--", "--y"], { x: {} });
    assert.deepEqual(r.positionals, ["a", "--y"]);
    assert.equal(r.options.get("x"), "1");
    assert.equal(suggest("promt", ["prompt", "pack"]), "prompt");
    assert.equal(suggest("zzzzzz", ["prompt", "pack"]), undefined);
  });

  test("parseArgs: the first problem, named by the argument as given", () => {
    const specs = { prompt: { meta: "TEXT" }, guidance: { meta: "G" }, help: { value: false } };
    const problem = (argv: string[]) => {
      try {
        parseArgs(argv, specs);
      } catch (err) {
        assert.ok(err instanceof UsageError);
        return err.message;
      }
      return assert.fail(`${JSON.stringify(argv)} parsed`);
    };
    // A separate value may start with "-" (the range check sees it), not with "--".
    assert.equal(parseArgs(["--guidance", "-1"], specs).options.get("guidance"), "-1");
    assert.equal(parseArgs(["--prompt=--x"], specs).options.get("prompt"), "--x");
    assert.equal(parseArgs(["-h"], specs).options.get("help"), "true");
    assert.match(problem(["--prompt", "--guidance", "3"]), /^--prompt: needs a value \(TEXT\)$/);
    assert.match(problem(["--prompt", "--"]), /^--prompt: needs a value/);
    assert.match(problem(["--prompt"]), /^--prompt: needs a value/);
    assert.match(problem(["--help=yes"]), /^--help: takes no value$/);
    assert.match(problem(["--prompt", "a", "--prompt=b"]), /^--prompt: given more than once$/);
    assert.match(problem(["--promt", "a"]), /^--promt: unknown option \(did you mean --prompt\?\); options: --prompt/);
    assert.match(problem(["-hx"]), /^-hx: unknown option; options are long/);
    assert.match(problem(["-1"]), /^-1: unknown option; options are long/);
    assert.match(problem(["--guidance", "1", "--x", "--prompt"]), /^--x: unknown option;/);
  });
});

describe("paths", () => {
  test("slugs are short, lower case and safe", () => {
    assert.equal(slugify("A red circle, moving RIGHT!"), "a-red-circle-moving-right");
    assert.equal(slugify("Crème brûlée"), "creme-brulee");
    assert.equal(slugify("!!!"), "video");
    assert.equal(slugify("../../etc/passwd"), "etc-passwd");
    const long = slugify("word ".repeat(40));
    assert.ok(long.length <= 60 && !long.endsWith("-"), long);
    assert.equal(defaultOutDir("a red circle", 7), path.join("out", "a-red-circle-7"));
  });

  test("the default pack is LONGSHOT_PACK, else the bundled pack under the repository root", () => {
    assert.deepEqual(defaultPackDir({ LONGSHOT_PACK: "/x/y" }), { dir: "/x/y", from: "LONGSHOT_PACK" });
    const d = defaultPackDir({});
    assert.equal(d.dir, path.join(REPO_ROOT, "models", "packs", "shapes-mini"));
    assert.ok(path.isAbsolute(REPO_ROOT));
  });

  test("default overlap is one interval (the gateway's plan) and fits the window", () => {
    assert.equal(defaultOverlap(17, 4), 4);
    assert.equal(defaultOverlap(33, 4), 4);
    assert.equal(defaultOverlap(9, 4), 4);
    assert.equal(defaultOverlap(5, 4), 0);
  });
});

describe("ProgressReporter", () => {
  const events: ProgressEvent[] = [
    { stage: "keyframes", step: 0, total: 20 },
    ...Array.from({ length: 20 }, (_, i) => ({ stage: "keyframes" as const, step: i + 1, total: 20 })),
    { stage: "interpolate", level: 1, frames: 17, step: 0, total: 2 },
    {
      stage: "interpolate",
      level: 1,
      frames: 17,
      step: 1,
      total: 2,
      window: { index: 1, count: 3, start: 8, end: 17 },
    },
  ];

  test("plain lines: stage start, every 10 % and the end", () => {
    let text = "";
    let t = 0;
    const p = new ProgressReporter({ write: (s: string) => (text += s) }, { tty: false, now: () => (t += 100) });
    for (const e of events) p.event(e);
    p.finish();
    const lines = text.trim().split("\n");
    assert.equal(lines[0], "keyframes: 0/20");
    assert.ok(lines.includes("keyframes: 2/20 (ETA 2s)"), lines.join("|"));
    assert.match(lines[10] ?? "", /^keyframes: 20\/20 \(done in 2s\)$/);
    assert.equal(lines[11], "interpolate L1 →17 frames: 0/2");
    assert.equal(lines.length, 13);
    // Windows of a level make one bar: window 2 of 3, step 1 of 2 = 3 of 6.
    assert.match(lines[12] ?? "", /^interpolate L1 →17 frames \(window 2\/3\): 3\/6 \(ETA /);
    assert.ok(!text.includes("\r"));
  });

  test("terminal: one line redrawn with \\r, bar and ETA", () => {
    let text = "";
    let t = 0;
    const p = new ProgressReporter(
      { write: (s: string) => (text += s), columns: 80 },
      { tty: true, now: () => (t += 50) },
    );
    p.phase("loading");
    for (const e of events.slice(0, 6)) p.event(e);
    p.finish();
    const frames = text.split("\r").filter(Boolean);
    assert.equal(frames.length, 7);
    assert.match(frames[6] ?? "", /keyframes +\[#{6}-{18}\] 5\/20 ETA 1s\n?$/);
    assert.ok(text.endsWith("\n"));
    assert.ok(frames.every((f) => f.replace("\u001b[2K", "").trimEnd().length <= 79));
    assert.equal(formatDuration(125_000), "2m05s");
  });
});

describe("--num-videos", () => {
  test("default 1; seeds follow each other, as bigints past 2^53", () => {
    const one = parseGenerateArgs(["--prompt", "x"]);
    const three = parseGenerateArgs(["--prompt", "x", "--num-videos", "3"]);
    assert.ok(one !== "help" && three !== "help");
    assert.equal(one.numVideos, 1);
    assert.equal(three.numVideos, 3);
    assert.deepEqual(
      [0, 1, 2].map((i) => seedAt(7, i)),
      [7, 8, 9],
    );
    assert.equal(seedAt(Number.MAX_SAFE_INTEGER, 1), BigInt(Number.MAX_SAFE_INTEGER) + 1n);
    assert.equal(seedAt(18446744073709551614n, 1), 18446744073709551615n);
  });

  test("one folder per video: --out is the video's folder for one, the folder holding them for several", () => {
    const a = { prompt: "A red ball!", numVideos: 1 };
    assert.deepEqual(outDirs({ ...a, out: "runs/x" }, [5]), [path.resolve("runs/x")]);
    assert.deepEqual(outDirs({ ...a, out: undefined }, [5]), [path.resolve("out/a-red-ball-5")]);
    assert.deepEqual(outDirs({ ...a, numVideos: 2, out: "runs" }, [5, 6]), [
      path.resolve("runs/a-red-ball-5"),
      path.resolve("runs/a-red-ball-6"),
    ]);
    assert.deepEqual(outDirs({ ...a, numVideos: 2, out: undefined }, [5, 6]), [
      path.resolve("out/a-red-ball-5"),
      path.resolve("out/a-red-ball-6"),
    ]);
  });

  test("progress lines say which video", () => {
    let text = "";
    const p = new ProgressReporter({ write: (s: string) => (text += s) }, { tty: false, now: () => 0 });
    p.setPrefix("video 2/3 (seed 8) ");
    p.phase("writing video.mp4");
    p.event({ stage: "keyframes", step: 0, total: 4 });
    assert.deepEqual(text.trim().split("\n"), [
      "video 2/3 (seed 8) writing video.mp4",
      "video 2/3 (seed 8) keyframes: 0/4",
    ]);
  });

  test("a note stays on its own line on a terminal; the bar is cleared first", () => {
    let text = "";
    const p = new ProgressReporter({ write: (s: string) => (text += s), columns: 80 }, { tty: true, now: () => 0 });
    p.event({ stage: "keyframes", step: 1, total: 4 });
    p.note("keyframes: out/x/keyframes.png");
    assert.ok(text.endsWith("\r\u001b[2Kkeyframes: out/x/keyframes.png\n"), JSON.stringify(text));
  });
});

describe("prompt words the pack never saw", () => {
  const vocabulary = ["a", "ball", "left", "moving", "red"];

  test("words are runs of letters and digits, lower case, each once", () => {
    assert.deepEqual(promptWords("A red, RED ball -- moving left!"), ["a", "red", "ball", "moving", "left"]);
    assert.deepEqual(promptWords("2 élans, naïve"), ["2", "élans", "naïve"]);
    assert.deepEqual(promptWords("  ,;  "), []);
  });

  test("the unknown words in order, and the warning naming them", () => {
    assert.deepEqual(unknownWords("a purple ball moving zigzag left", vocabulary), ["purple", "zigzag"]);
    assert.equal(
      unknownWordsWarning("a purple ball moving zigzag left", vocabulary),
      'warning: the pack never saw these words: "purple", "zigzag"; expect it to ignore them',
    );
    assert.equal(
      unknownWordsWarning("a Cat", vocabulary),
      'warning: the pack never saw this word: "cat"; expect it to ignore it',
    );
    assert.equal(unknownWordsWarning("A red ball moving left", vocabulary), undefined);
    assert.equal(unknownWordsWarning("a cat", undefined), undefined, "a pack without a vocabulary: no warning");
  });
});
