/**
 * The pack's text tokenizer (a Hugging Face `tokenizer.json` + `tokenizer_config.json`, run by the maintained
 * `@huggingface/tokenizers` library), with the fixed-length padding and truncation of the Python reference:
 * `enable_truncation(maxTokens)` + `enable_padding(length=maxTokens, pad_id=0)`. Truncation works as the Rust
 * library's on a single sequence: the text's own tokens are cut to `maxTokens − (number of special tokens)` and
 * the post-processor's special tokens (for BERT `[CLS] … [SEP]`) are kept. The attention mask is 1 on real
 * tokens and 0 on padding.
 */
import { readFile } from "node:fs/promises";
import { Tokenizer } from "@huggingface/tokenizers";
import { ConfigError, InvalidArgumentError } from "@longshot/core";
import type { Pack } from "@longshot/pack";
import { Tensor } from "@longshot/tensor";

export interface TokenizedBatch {
  /** `[batch, maxTokens]` int64. */
  inputIds: Tensor<"int64">;
  /** `[batch, maxTokens]` int64, 1 for real tokens. */
  attentionMask: Tensor<"int64">;
}

export class PromptTokenizer {
  readonly maxTokens: number;
  /** Padding id: 0 ("[PAD]" of BERT vocabularies), as the reference's `enable_padding(pad_id=0)`. */
  readonly padId = 0;
  readonly #tok: Tokenizer;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown, maxTokens: number) {
    if (!Number.isSafeInteger(maxTokens) || maxTokens < 2) {
      throw new InvalidArgumentError("maxTokens", `must be an integer >= 2, got ${String(maxTokens)}`);
    }
    if (tokenizerJson === null || typeof tokenizerJson !== "object") {
      throw new ConfigError("tokenizer.json must hold a JSON object");
    }
    try {
      this.#tok = new Tokenizer(tokenizerJson, (tokenizerConfig ?? {}) as object);
    } catch (err) {
      throw new ConfigError(`cannot build the tokenizer: ${(err as Error).message}`, { cause: err });
    }
    this.maxTokens = maxTokens;
  }

  /** The tokenizer of a verified pack (`text.tokenizer`, `text.tokenizerConfig`, `text.maxTokens`). */
  static async fromPack(pack: Pack): Promise<PromptTokenizer> {
    const read = async (file: string): Promise<unknown> => {
      try {
        return JSON.parse(await readFile(file, "utf8"));
      } catch (err) {
        throw new ConfigError(`pack ${pack.id}: cannot read tokenizer file ${file}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    };
    const json = await read(pack.tokenizerFile.absPath);
    const config = await read(pack.tokenizerConfigFile.absPath);
    return new PromptTokenizer(json, config, pack.manifest.text.maxTokens);
  }

  /** Token ids of one text: special tokens included, truncated to `maxTokens`, not padded. */
  ids(text: string): number[] {
    if (typeof text !== "string") throw new InvalidArgumentError("prompt", `must be a string, got ${typeof text}`);
    const withSpecial = this.#tok.encode(text).ids;
    if (withSpecial.length <= this.maxTokens) return withSpecial;
    const plain = this.#tok.encode(text, { add_special_tokens: false }).ids;
    // Locate the text's tokens inside the post-processed sequence: prefix + plain + suffix.
    const prefix = withSpecial.length - plain.length;
    let p = 0;
    for (; p <= prefix; p++) {
      let ok = true;
      for (let i = 0; i < plain.length && ok; i++) ok = withSpecial[p + i] === plain[i];
      if (ok) break;
    }
    if (p > prefix) {
      throw new ConfigError("tokenizer: cannot locate the text's tokens in the post-processed sequence");
    }
    const head = withSpecial.slice(0, p);
    const tail = withSpecial.slice(p + plain.length);
    const keep = this.maxTokens - head.length - tail.length;
    if (keep < 0) throw new ConfigError(`tokenizer adds more special tokens than maxTokens ${this.maxTokens}`);
    return [...head, ...plain.slice(0, keep), ...tail];
  }

  /** A padded batch (`[texts.length, maxTokens]`). */
  encode(texts: readonly string[]): TokenizedBatch {
    const n = texts.length;
    const t = this.maxTokens;
    const ids = new BigInt64Array(n * t).fill(BigInt(this.padId));
    const mask = new BigInt64Array(n * t);
    texts.forEach((text, i) => {
      const row = this.ids(text);
      row.forEach((id, j) => {
        ids[i * t + j] = BigInt(id);
        mask[i * t + j] = 1n;
      });
    });
    return {
      inputIds: new Tensor("int64", ids, [n, t]),
      attentionMask: new Tensor("int64", mask, [n, t]),
    };
  }
}
