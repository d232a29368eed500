import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "@longshot/cli";
import type { PackManifest } from "@longshot/pack";
import { checkAgainstPack, DEFAULT_PROMPT, parseEngineArgs, planCases } from "./engine-bench.js";
import { stageLabel } from "./engine-run.js";

const W = { frames: 17, overlap: 4 };

function usage(fn: () => unknown, arg: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UsageError && err.arg === arg && message.test(err.message));
}

describe("planCases", () => {
  test("the full suite: speed at 17, 65 and windowed 257; memory whole and windowed at 65 and 257", () => {
    const cases = planCases({ frames: [257, 17, 65], defaultFrames: 65, window: W, study: "all" });
    assert.deepEqual(
      cases.map((c) => [
        c.id,
        c.window === null ? null : `${c.window.frames}/${c.window.overlap}`,
        c.studies.join("+"),
      ]),
      [
        ["f17", null, "speed"],
        ["f65", null, "speed+memory"],
        ["f65-w17o4", "17/4", "memory"],
        ["f257", null, "memory"],
        ["f257-w17o4", "17/4", "speed+memory"],
      ],
    );
  });

  test("one study at a time", () => {
    const speed = planCases({ frames: [17, 65, 257], defaultFrames: 65, window: W, study: "speed" });
    assert.deepEqual(
      speed.map((c) => c.id),
      ["f17", "f65", "f257-w17o4"],
    );
    const memory = planCases({ frames: [17, 65, 257], defaultFrames: 65, window: W, study: "memory" });
    assert.deepEqual(
      memory.map((c) => c.id),
      ["f65", "f65-w17o4", "f257", "f257-w17o4"],
    );
  });

  test("frame counts no longer than a window have no memory case", () => {
    assert.deepEqual(
      planCases({ frames: [17], defaultFrames: 65, window: W, study: "all" }).map((c) => c.id),
      ["f17"],
    );
    assert.deepEqual(planCases({ frames: [17], defaultFrames: 65, window: W, study: "memory" }), []);
  });
});

describe("parseEngineArgs", () => {
  test("defaults", () => {
    const a = parseEngineArgs([], {});
    assert.ok(a !== "help");
    assert.equal(a.frames, null);
    assert.equal(a.repeat, 3);
    assert.equal(a.prompt, DEFAULT_PROMPT);
    assert.equal(a.outputs, true);
    assert.equal(a.study, "all");
    assert.match(a.pack, /models\/packs\/shapes-mini$/);
    const env = parseEngineArgs([], { LONGSHOT_PACK: "/somewhere/pack" });
    assert.ok(env !== "help");
    assert.equal(env.pack, "/somewhere/pack");
  });

  test("frame lists are sorted and deduplicated", () => {
    const a = parseEngineArgs(["--frames", "257,17, 65,17", "--no-outputs", "--repeat", "1"], {});
    assert.ok(a !== "help");
    assert.deepEqual(a.frames, [17, 65, 257]);
    assert.equal(a.outputs, false);
    assert.equal(a.repeat, 1);
  });

  test("bad arguments name the option", () => {
    usage(() => parseEngineArgs(["--frames", "17,,65"], {}), "--frames", /comma-separated list/);
    usage(() => parseEngineArgs(["--frames", "x"], {}), "--frames", /integer/);
    usage(() => parseEngineArgs(["--repeat", "0"], {}), "--repeat", /\[1, 100\]/);
    usage(() => parseEngineArgs(["--study", "speedy"], {}), "--study", /one of all, speed, memory/);
    usage(() => parseEngineArgs(["--prompt", "a cat"], {}), "--prompt", /colour, a shape and a motion/);
    usage(() => parseEngineArgs(["--out", "x.txt"], {}), "--out", /\.json/);
    usage(() => parseEngineArgs(["--bogus"], {}), "--bogus", /unknown option/);
    usage(() => parseEngineArgs(["17"], {}), '"17"', /options only/);
  });
});

describe("checkAgainstPack", () => {
  const manifest = {
    name: "p",
    version: "1",
    video: { frames: [17, 65, 257], interpolationFactor: 4 },
  } as unknown as PackManifest;

  test("frame counts must be the pack's", () => {
    usage(
      () => checkAgainstPack(manifest, [17, 33], W),
      "--frames",
      /33 is not a frame count of pack p@1; it has 17, 65, 257/,
    );
  });

  test("window and overlap must fit the interpolation factor", () => {
    usage(() => checkAgainstPack(manifest, [17], { frames: 16, overlap: 4 }), "--window", /≡ 1 \(mod 4\)/);
    usage(() => checkAgainstPack(manifest, [17], { frames: 17, overlap: 3 }), "--overlap", /multiple of 4/);
    checkAgainstPack(manifest, [17, 65, 257], W);
  });
});

test("stage labels of progress events", () => {
  assert.equal(stageLabel({ stage: "encode", step: 0, total: 1 }), "encode");
  assert.equal(stageLabel({ stage: "interpolate", level: 2, step: 0, total: 15, frames: 65 }), "interp2");
  assert.equal(stageLabel({ stage: "decode", step: 16, total: 65 }), "decode");
});
