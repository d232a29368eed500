/**
 * The synthetic world's vocabulary, ported from models/longshot_models/world.py: palette colours, backgrounds,
 * shapes, motions and how prompts phrase them. Keep in step with that file (the parity test compares them).
 */

export type Rgb = readonly [number, number, number];

/** Object colours, RGB in [0, 1]. Order matters: prompt parsing takes the first match. */
export const COLOURS: Readonly<Record<string, Rgb>> = Object.freeze({
  red: [0.9, 0.1, 0.1],
  green: [0.1, 0.75, 0.15],
  blue: [0.15, 0.35, 0.95],
  yellow: [0.95, 0.9, 0.1],
  white: [0.97, 0.97, 0.97],
  purple: [0.6, 0.15, 0.8],
  orange: [1.0, 0.55, 0.05],
  cyan: [0.1, 0.85, 0.9],
});

/** Background colours, RGB in [0, 1]. */
export const BACKGROUNDS: Readonly<Record<string, Rgb>> = Object.freeze({
  black: [0.02, 0.02, 0.02],
  white: [0.97, 0.97, 0.97],
  gray: [0.5, 0.5, 0.5],
  "dark blue": [0.05, 0.08, 0.35],
});

export const SHAPES = ["circle", "square", "triangle"] as const;
export type Shape = (typeof SHAPES)[number];

export const MOTIONS = ["left", "right", "up", "down", "approaching", "receding"] as const;
export type Motion = (typeof MOTIONS)[number];

/**
 * How each motion, shape and background is said in a prompt (world.py `_MOTION_WORDS`, `_SHAPE_WORDS`,
 * `_BACKGROUND_WORDS`): several words for each, synonyms a user would type. A prompt's template number picks the
 * sentence (template % 3), the motion words (template % 4), the shape word ((template // 4) % 3) and the background
 * word (template % 2); TEMPLATE_COUNT templates cover every sentence x motion-word pair.
 */
export const MOTION_WORDS: Readonly<Record<Motion, readonly string[]>> = Object.freeze({
  left: ["moving left", "going left", "sliding left", "drifting to the left"],
  right: ["moving right", "going right", "sliding right", "drifting to the right"],
  up: ["moving up", "going up", "rising", "floating upward"],
  down: ["moving down", "going down", "falling", "sinking downward"],
  approaching: ["approaching", "coming closer", "getting closer", "growing nearer"],
  receding: ["receding", "moving away", "getting farther away", "drifting away"],
});

/**
 * More ways to say each motion (world.py `_MORE_MOTION_WORDS`): keyframe training draws from them as well, and the
 * probe reads them, but no template says them, so prompts from `makePrompt` keep their words.
 */
export const MORE_MOTION_WORDS: Readonly<Record<Motion, readonly string[]>> = Object.freeze({
  left: ["shifting left", "sweeping to the left", "moving to the left", "passing left"],
  right: ["shifting right", "sweeping to the right", "moving to the right", "passing right"],
  up: ["shifting up", "soaring upward", "moving higher", "rising to the upper edge"],
  down: ["shifting down", "plunging downward", "moving lower", "falling to the lower edge"],
  approaching: ["moving closer", "looming closer", "expanding", "enlarging"],
  receding: ["backing away", "dwindling", "withdrawing", "moving farther away"],
});

/** The words for each shape (world.py `_SHAPE_WORDS`). */
export const SHAPE_WORDS: Readonly<Record<Shape, readonly string[]>> = Object.freeze({
  circle: ["circle", "ball", "disc"],
  square: ["square", "box", "block"],
  triangle: ["triangle"],
});

/** The words for a background where there is more than its own name (world.py `_BACKGROUND_WORDS`). */
export const BACKGROUND_WORDS: Readonly<Record<string, readonly string[]>> = Object.freeze({ gray: ["gray", "grey"] });

/** Prompt templates (world.py `_TEMPLATES`). */
export const PROMPT_TEMPLATES: readonly string[] = [
  "a {colour} {shape} {motion} on a {background} background",
  "a {colour} {shape} {motion} over a {background} background",
  "{colour} {shape} {motion}, {background} background",
];

/** How many template numbers a clip draws from (world.py `TEMPLATE_COUNT`). */
export const TEMPLATE_COUNT = 12;

/** Python's `i % n` (never negative for n > 0). */
function pyMod(i: number, n: number): number {
  return ((i % n) + n) % n;
}

/** world.py `_pick`: the word at `i`, wrapping around. */
function pick(words: readonly string[], i: number): string {
  return words[pyMod(i, words.length)] as string;
}

/** world.py `_BACKGROUND_WORDS.get(background, (background,))`. */
function wordsForBackground(background: string): readonly string[] {
  return (Object.hasOwn(BACKGROUND_WORDS, background) ? BACKGROUND_WORDS[background] : undefined) ?? [background];
}

/** The prompt world.py's `make_prompt` writes for a clip. */
export function makePrompt(colour: string, shape: Shape, motion: Motion, background: string, template = 0): string {
  const forShape = Object.hasOwn(SHAPE_WORDS, shape) ? SHAPE_WORDS[shape] : undefined;
  if (!forShape) throw new Error(`unknown shape ${JSON.stringify(shape)}; expected one of ${SHAPES.join(", ")}`);
  const forMotion = Object.hasOwn(MOTION_WORDS, motion) ? MOTION_WORDS[motion] : undefined;
  if (!forMotion) throw new Error(`unknown motion ${JSON.stringify(motion)}; expected one of ${MOTIONS.join(", ")}`);
  const tpl = PROMPT_TEMPLATES[pyMod(template, PROMPT_TEMPLATES.length)] as string;
  const fields: Record<string, string> = {
    colour,
    shape: pick(forShape, Math.floor(template / 4)),
    motion: pick(forMotion, template),
    background: pick(wordsForBackground(background), template),
  };
  const text = tpl.replace(/\{(colour|shape|motion|background)\}/g, (_, key: string) => fields[key] as string);
  return text.replaceAll("a orange", "an orange");
}

/** Every motion phrase the world uses with its motion, in world.py `motion_phrases()`'s order. */
export function motionPhrases(): Array<[phrase: string, motion: Motion]> {
  const out = new Map<string, Motion>();
  for (const table of [MOTION_WORDS, MORE_MOTION_WORDS]) {
    for (const [m, words] of Object.entries(table) as Array<[Motion, readonly string[]]>) {
      for (const w of words) out.set(w, m);
    }
  }
  return [...out];
}

/** Every shape word with its shape, in world.py `shape_words()`'s order. */
export function shapeWords(): Array<[word: string, shape: Shape]> {
  const out = new Map<string, Shape>();
  for (const [s, words] of Object.entries(SHAPE_WORDS) as Array<[Shape, readonly string[]]>) {
    for (const w of words) out.set(w, s);
  }
  return [...out];
}

/** Every background word with its background, in world.py `background_words()`'s order. */
export function backgroundWords(): Array<[word: string, background: string]> {
  const out = new Map<string, string>();
  for (const b of Object.keys(BACKGROUNDS)) {
    for (const w of wordsForBackground(b)) out.set(w, b);
  }
  return [...out];
}
