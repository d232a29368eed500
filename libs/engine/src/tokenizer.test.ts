import assert from "node:assert/strict";
import { test } from "node:test";
import { loadPack } from "@longshot/pack";
import { testPackDir } from "./test-support.js";
import { PromptTokenizer } from "./tokenizer.js";

// Expected ids from the Python reference's tokenizer (`tokenizers.Tokenizer.from_file` with
// enable_truncation(32) + enable_padding(length=32, pad_id=0)) on the all-MiniLM-L6-v2 vocabulary, padding removed.
const CASES: Array<[string, number[]]> = [
  ["", [101, 102]],
  ["A Red CIRCLE, moving right!", [101, 1037, 2417, 4418, 1010, 3048, 2157, 999, 102]],
  ["Héllo naïve café 😀 unbelievable", [101, 7592, 15743, 7668, 100, 23653, 102]],
  ["a ".repeat(40), [101, ...Array<number>(30).fill(1037), 102]],
  [
    "unbelievably extraordinarily ".repeat(12),
    [
      101, 4895, 8671, 2666, 3567, 6321, 4469, 8551, 3981, 11272, 4895, 8671, 2666, 3567, 6321, 4469, 8551, 3981, 11272,
      4895, 8671, 2666, 3567, 6321, 4469, 8551, 3981, 11272, 4895, 8671, 2666, 102,
    ],
  ],
  ["  spaces\tand\nnewlines  ", [101, 7258, 1998, 2047, 12735, 102]],
];

test("tokenizes, truncates and pads like the Python reference", async () => {
  const tok = await PromptTokenizer.fromPack(await loadPack(testPackDir()));
  assert.equal(tok.maxTokens, 32);
  const { inputIds, attentionMask } = tok.encode(CASES.map(([s]) => s));
  assert.deepEqual([...inputIds.dims], [CASES.length, 32]);
  assert.deepEqual([...attentionMask.dims], [CASES.length, 32]);
  CASES.forEach(([text, expected], i) => {
    const row = Array.from(inputIds.data.subarray(i * 32, (i + 1) * 32), Number);
    const mask = Array.from(attentionMask.data.subarray(i * 32, (i + 1) * 32), Number);
    assert.deepEqual(row, [...expected, ...Array<number>(32 - expected.length).fill(0)], JSON.stringify(text));
    assert.deepEqual(mask, [...Array<number>(expected.length).fill(1), ...Array<number>(32 - expected.length).fill(0)]);
  });
});

test("rejects a non-string prompt and a bad maxTokens", () => {
  assert.throws(() => new PromptTokenizer({}, {}, 1), { name: "InvalidArgumentError", message: /maxTokens/ });
  assert.throws(() => new PromptTokenizer(null, {}, 32), { name: "ConfigError" });
});
