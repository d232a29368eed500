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

/** How each motion is said in a prompt (world.py `_MOTION_WORDS`). */
export const MOTION_WORDS: Readonly<Record<Motion, readonly string[]>> = Object.freeze({
  left: ["moving left"],
  right: ["moving right"],
  up: ["moving up"],
  down: ["moving down"],
  approaching: ["approaching", "coming closer"],
  receding: ["receding", "moving away"],
});

/** Prompt templates (world.py `_TEMPLATES`). */
export const PROMPT_TEMPLATES: readonly string[] = [
  "a {colour} {shape} {motion} on a {background} background",
  "a {colour} {shape} {motion} over a {background} background",
  "{colour} {shape} {motion}, {background} background",
];

/** The prompt world.py's `make_prompt` writes for a clip. */
export function makePrompt(colour: string, shape: string, motion: Motion, background: string, template = 0): string {
  const words = MOTION_WORDS[motion];
  if (!words) throw new Error(`unknown motion ${JSON.stringify(motion)}; expected one of ${MOTIONS.join(", ")}`);
  const n = PROMPT_TEMPLATES.length;
  const tpl = PROMPT_TEMPLATES[((template % n) + n) % n] as string;
  const word = words[((template % words.length) + words.length) % words.length] as string;
  const text = tpl
    .replace("{colour}", colour)
    .replace("{shape}", shape)
    .replace("{motion}", word)
    .replace("{background}", background);
  return text.replace("a orange", "an orange");
}
