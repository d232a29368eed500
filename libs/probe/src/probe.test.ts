import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { isWorldPrompt, MOTION_PHRASES, parsePrompt, probe, score } from "./probe.js";
import {
  BACKGROUND_WORDS,
  BACKGROUNDS,
  backgroundWords,
  COLOURS,
  MOTION_WORDS,
  MOTIONS,
  makePrompt,
  motionPhrases,
  type Rgb,
  SHAPE_WORDS,
  SHAPES,
  shapeWords,
  TEMPLATE_COUNT,
} from "./world.js";

const S = 64;

function byte(v: number): number {
  return Math.round(v * 255);
}

type ShapeFn = (x: number, y: number, cx: number, cy: number, r: number) => boolean;
const SHAPE_FNS: Record<string, ShapeFn> = {
  square: (x, y, cx, cy, r) => Math.abs(x - cx) <= r && Math.abs(y - cy) <= r,
  circle: (x, y, cx, cy, r) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r,
  // Pointing up: the half-width grows linearly from the apex to the base.
  triangle: (x, y, cx, cy, r) => y >= cy - r && y <= cy + r && Math.abs(x - cx) <= ((y - (cy - r)) / (2 * r)) * r,
};

/** A hard-edged object on a flat background; `at(t)` gives centre and half-size at frame t. */
function render(
  n: number,
  shape: string,
  fg: Rgb,
  bg: Rgb,
  at: (t: number) => [number, number, number],
  size: [number, number] = [S, S],
): { frames: Uint8Array[]; width: number; height: number } {
  const [width, height] = size;
  const frames: Uint8Array[] = [];
  const fn = SHAPE_FNS[shape] as ShapeFn;
  for (let t = 0; t < n; t++) {
    const [cx, cy, r] = at(t);
    const f = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const c = fn(x + 0.5, y + 0.5, cx, cy, r) ? fg : bg;
        f.set([byte(c[0]), byte(c[1]), byte(c[2])], (y * width + x) * 3);
      }
    }
    frames.push(f);
  }
  return { frames, width, height };
}

const red = COLOURS.red as Rgb;
const darkBlue = BACKGROUNDS["dark blue"] as Rgb;

describe("probe", () => {
  test("a red square moving right on dark blue", () => {
    const v = render(65, "square", red, darkBlue, (t) => [14 + (36 * t) / 64, 32, 7]);
    const r = probe(v);
    assert.equal(r.colour, "red");
    assert.equal(r.shape, "square");
    assert.equal(r.motion, "right");
    assert.equal(r.background, "dark blue");
    assert.equal(r.smooth, true);
    assert.equal(r.xs.length, 65);
    // Pixel centres 7.5 … 20.5 lie within 7 px of x = 14: a 14x14 square, size sqrt(196) = 14.
    assert.equal(r.sizes[0], 14);
    assert.ok(Math.abs((r.ys[0] as number) - 32) < 1);
    assert.ok((r.xs[64] as number) - (r.xs[0] as number) > 30);
  });

  test("circles, triangles, every direction and size change", () => {
    const cases: Array<[number, string, (t: number) => [number, number, number], string, string]> = [
      [33, "circle", (t) => [50 - (36 * t) / 32, 30, 8], "circle", "left"],
      [33, "circle", (t) => [30, 50 - (36 * t) / 32, 8], "circle", "up"],
      [33, "triangle", (t) => [32, 14 + (36 * t) / 32, 9], "triangle", "down"],
      [33, "circle", (t) => [32, 32, 4 + (11 * t) / 32], "circle", "approaching"],
      // Hard edges: the side shrinks by exactly 2 px a frame, so the steps are even.
      [11, "square", (t) => [32, 32, 14 - t], "square", "receding"],
    ];
    for (const [n, shape, at, wantShape, wantMotion] of cases) {
      const r = probe(render(n, shape, COLOURS.yellow as Rgb, BACKGROUNDS.black as Rgb, at));
      assert.equal(r.shape, wantShape, `${shape} ${wantMotion}`);
      assert.equal(r.motion, wantMotion, `${shape} ${wantMotion}`);
      assert.equal(r.colour, "yellow");
      assert.equal(r.background, "black");
      assert.equal(r.smooth, true, `${shape} ${wantMotion} ratio ${r.maxStepRatio}`);
    }
  });

  test("an object that barely moves has no motion", () => {
    const r = probe(render(17, "square", red, BACKGROUNDS.gray as Rgb, (t) => [30 + t * 0.2, 30, 6]));
    assert.equal(r.motion, null);
  });

  test("a jump is not smooth", () => {
    const r = probe(render(33, "square", red, darkBlue, (t) => [t === 16 ? 50 : 14 + t, 32, 6]));
    assert.equal(r.smooth, false);
    assert.ok(r.maxStepRatio > 3);
  });

  test("frames without an object give NaN tracks and an infinite step ratio", () => {
    const v = render(9, "square", red, darkBlue, (t) => [t === 4 ? -100 : 20 + t, 32, 6]);
    const r = probe(v);
    assert.ok(Number.isNaN(r.xs[4]));
    assert.equal(r.sizes[4], 0);
    assert.equal(r.maxStepRatio, Number.POSITIVE_INFINITY);
    assert.equal(r.smooth, false);
    const empty = probe(render(5, "square", red, darkBlue, () => [-100, -100, 1]));
    assert.deepEqual(
      [empty.colour, empty.shape, empty.motion, empty.background, empty.smooth],
      [null, null, null, "dark blue", false],
    );
  });

  test("rows and columns are not mixed up on non-square frames", () => {
    const r = probe(render(17, "square", red, darkBlue, (t) => [10 + 2 * t, 12, 5], [80, 24]));
    assert.equal(r.motion, "right");
    assert.ok(Math.abs((r.ys[3] as number) - 12) < 1);
  });

  test("bad input names the frame that is wrong", () => {
    assert.throws(() => probe({ frames: [], width: 4, height: 4 }), { name: "InvalidArgumentError", field: "frames" });
    assert.throws(
      () => probe({ frames: [new Uint8Array(48), new Uint8Array(47)], width: 4, height: 4 }),
      (err: unknown) =>
        err instanceof InvalidArgumentError && err.field === "frames[1]" && /4\*4\*3 = 48/.test(err.message),
    );
    assert.throws(() => probe({ frames: [new Uint8Array(0)], width: 0, height: 4 }), /positive integers/);
  });
});

describe("parsePrompt", () => {
  test("reads colour, shape, motion and background", () => {
    assert.deepEqual(parsePrompt("a red circle moving right on a blue background"), {
      colour: "red",
      shape: "circle",
      motion: "right",
      background: null, // "blue" is not a background of the world
    });
    assert.deepEqual(parsePrompt("An Orange triangle coming closer over a DARK BLUE background"), {
      colour: "orange",
      shape: "triangle",
      motion: "approaching",
      background: "dark blue",
    });
    // The background phrase is removed before the object's colour is read.
    assert.deepEqual(parsePrompt("a white square on a white background"), {
      colour: "white",
      shape: "square",
      motion: null,
      background: "white",
    });
    assert.deepEqual(parsePrompt("reddish squares moving away"), {
      colour: null,
      shape: null,
      motion: "receding",
      background: null,
    });
    // Python's \b treats Unicode letters as word characters.
    assert.equal(parsePrompt("éred circle").colour, null);
  });

  test("reads the world's synonyms for shapes, motions and backgrounds", () => {
    assert.deepEqual(parsePrompt("a red ball sliding left over a grey background"), {
      colour: "red",
      shape: "circle",
      motion: "left",
      background: "gray",
    });
    const cases: Array<[string, [string | null, string | null, string | null, string | null]]> = [
      ["a Blue BOX rising, GREY   background", ["blue", "square", "up", "gray"]],
      ["a green disc falling on a gray background", ["green", "circle", "down", "gray"]],
      ["a yellow block drifting away on a dark blue background", ["yellow", "square", "receding", "dark blue"]],
      ["a cyan triangle getting farther away", ["cyan", "triangle", "receding", null]],
      ["an orange ball growing nearer", ["orange", "circle", "approaching", null]],
      ["a white disc getting closer", ["white", "circle", "approaching", null]],
      ["a purple square floating upward", ["purple", "square", "up", null]],
      ["a red circle sinking downward", ["red", "circle", "down", null]],
      ["a red circle going right", ["red", "circle", "right", null]],
      ["a red square drifting to the right", ["red", "square", "right", null]],
      ["a red square drifting to the left", ["red", "square", "left", null]],
      // The phrasings only training says (MORE_MOTION_WORDS) parse too.
      ["a green box moving to the left over a grey background", ["green", "square", "left", "gray"]],
      ["a white triangle rising to the upper edge, black background", ["white", "triangle", "up", "black"]],
      ["a cyan disc looming closer", ["cyan", "circle", "approaching", null]],
      ["a purple block moving farther away", ["purple", "square", "receding", null]],
      // Whole words only: "balloon", "boxy", "greyish" are not the world's words.
      ["a red balloon on a greyish background", ["red", null, null, null]],
      ["a boxy thing", [null, null, null, null]],
      // The first shape word in the world's order wins (circle words before square words), as in probe.py.
      ["a box and a ball", [null, "circle", null, null]],
      // The longest background word is tried first, wherever it stands: "dark blue" before "grey".
      ["a white ball on a grey background and a dark blue background", ["white", "circle", null, "dark blue"]],
    ];
    for (const [prompt, [colour, shape, motion, background]] of cases) {
      assert.deepEqual(parsePrompt(prompt), { colour, shape, motion, background }, prompt);
    }
  });

  test("every generated prompt parses back to its parts", () => {
    const prompts: string[] = [];
    for (const c of Object.keys(COLOURS)) {
      for (const s of SHAPES) {
        for (const m of MOTIONS) {
          for (const b of Object.keys(BACKGROUNDS)) {
            for (let tpl = 0; tpl < TEMPLATE_COUNT; tpl++) {
              const p = makePrompt(c, s, m, b, tpl);
              assert.deepEqual(parsePrompt(p), { colour: c, shape: s, motion: m, background: b }, p);
              assert.ok(isWorldPrompt(p), p);
              prompts.push(p);
            }
          }
        }
      }
    }
    // TEMPLATE_COUNT templates say every word the world has.
    const words = [
      ...Object.values(MOTION_WORDS).flat(),
      ...Object.values(SHAPE_WORDS).flat(),
      ...Object.values(BACKGROUND_WORDS).flat(),
    ];
    for (const w of words) {
      assert.ok(
        prompts.some((p) => p.includes(` ${w}`)),
        `no prompt says ${JSON.stringify(w)}`,
      );
    }
    assert.equal(isWorldPrompt("a cat playing the piano"), false);
  });
});

describe("makePrompt", () => {
  test("picks the sentence, motion, shape and background words by template number, as world.py", () => {
    assert.equal(makePrompt("orange", "circle", "left", "gray"), "an orange circle moving left on a gray background");
    // Sentence: template % 3; motion words: template % 4; shape word: (template // 4) % 3; background: template % 2.
    assert.equal(makePrompt("red", "circle", "up", "gray", 1), "a red circle going up over a grey background");
    assert.equal(makePrompt("red", "circle", "up", "gray", 2), "red circle rising, gray background");
    assert.equal(makePrompt("red", "square", "down", "gray", 7), "a red box sinking downward over a grey background");
    assert.equal(
      makePrompt("red", "square", "receding", "black", 10),
      "a red block getting farther away over a black background",
    );
    assert.equal(
      makePrompt("blue", "triangle", "approaching", "dark blue", 11),
      "blue triangle growing nearer, dark blue background",
    );
    // Template numbers wrap like Python's % and //: 12 is 0 again, -1 is the last sentence with the last words.
    assert.equal(
      makePrompt("red", "circle", "left", "gray", TEMPLATE_COUNT),
      makePrompt("red", "circle", "left", "gray", 0),
    );
    assert.equal(makePrompt("red", "circle", "left", "gray", -1), "red disc drifting to the left, grey background");
    assert.throws(() => makePrompt("red", "hexagon" as never, "left", "gray"), /unknown shape "hexagon"/);
    assert.throws(() => makePrompt("red", "circle", "sideways" as never, "gray"), /unknown motion "sideways"/);
  });

  test("the word tables map back to what they name, in world.py's order", () => {
    assert.deepEqual(shapeWords(), [
      ["circle", "circle"],
      ["ball", "circle"],
      ["disc", "circle"],
      ["square", "square"],
      ["box", "square"],
      ["block", "square"],
      ["triangle", "triangle"],
    ]);
    assert.deepEqual(backgroundWords(), [
      ["black", "black"],
      ["white", "white"],
      ["gray", "gray"],
      ["grey", "gray"],
      ["dark blue", "dark blue"],
    ]);
    assert.equal(motionPhrases().length, 48);
    assert.deepEqual(motionPhrases().slice(8, 12), [
      ["moving up", "up"],
      ["going up", "up"],
      ["rising", "up"],
      ["floating upward", "up"],
    ]);
    assert.deepEqual(MOTION_PHRASES, motionPhrases());
  });
});

describe("score", () => {
  test("compares what the clip shows with the prompt", () => {
    const v = render(33, "square", red, darkBlue, (t) => [12 + t * 1.2, 32, 6]);
    const good = score(v, "a red square moving right on a dark blue background");
    assert.equal(good.ok, true);
    assert.deepEqual(good.got, { colour: "red", shape: "square", motion: "right", background: "dark blue" });
    const bad = score(v, "a green square moving left on a dark blue background");
    assert.equal(bad.colourOk, false);
    assert.equal(bad.motionOk, false);
    assert.equal(bad.shapeOk, true);
    assert.equal(bad.backgroundOk, true);
    assert.equal(bad.ok, false);
  });
});
