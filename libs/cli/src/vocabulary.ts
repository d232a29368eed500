/**
 * The prompt's words a pack never saw: pack.json `text.vocabulary` lists every word of the prompts the pack was
 * trained on (lower case), and a word outside it is one the text encoder maps somewhere the UNets never learned
 * from, so the pack most likely ignores it. Words are split as the pack's toolkit splits them (runs of letters and
 * digits, lower case; models/longshot_models/export.py `WORD`).
 */

/** The words of `text`, lower case, in order, each once. */
export function promptWords(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words)];
}

/** The words of `prompt` that are not in `vocabulary`, in the order they appear. */
export function unknownWords(prompt: string, vocabulary: readonly string[]): string[] {
  const known = new Set(vocabulary);
  return promptWords(prompt).filter((w) => !known.has(w));
}

/**
 * The warning line for a prompt with words outside the pack's vocabulary, or undefined when it has none or the pack
 * declares no vocabulary.
 */
export function unknownWordsWarning(prompt: string, vocabulary: readonly string[] | undefined): string | undefined {
  if (vocabulary === undefined || vocabulary.length === 0) return undefined;
  const unknown = unknownWords(prompt, vocabulary);
  if (unknown.length === 0) return undefined;
  const list = unknown.map((w) => JSON.stringify(w)).join(", ");
  const these = unknown.length === 1 ? "this word" : "these words";
  return `warning: the pack never saw ${these}: ${list}; expect it to ignore ${unknown.length === 1 ? "it" : "them"}`;
}
