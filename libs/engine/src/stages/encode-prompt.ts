/**
 * Stage 1: encode the prompt for classifier-free guidance: the batch `[negative (default ""), prompt]` is
 * tokenized (padded/truncated to the pack's `text.maxTokens`) and run through the pack's text encoder in one call,
 * giving the `[2, T, H]` embeddings `[unconditional, conditional]` the UNets cross-attend to.
 */
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import type { ModelSession } from "@longshot/runtime";
import { SPAN_ENCODE_PROMPT, withSpan } from "@longshot/telemetry/light";
import type { Tensor } from "@longshot/tensor";
import type { PromptTokenizer } from "../tokenizer.js";
import { type StageTraceInput, stageSpanAttributes, throwIfCancelled } from "./denoise.js";

export interface EncodePromptInput extends StageTraceInput {
  /** The pack's `textEncoder` session. */
  textEncoder: ModelSession;
  tokenizer: PromptTokenizer;
  prompt: string;
  /** The unconditional text; default "" (as the reference). */
  negativePrompt?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Returns the `[2, T, H]` float32 text embeddings `[unconditional, conditional]`. Traced as the span
 * `encode prompt` (stage keyframe, execution provider).
 */
export async function encodePrompt(input: EncodePromptInput): Promise<Tensor<"float32">> {
  return withSpan(SPAN_ENCODE_PROMPT, stageSpanAttributes("keyframe", input), () => runEncodePrompt(input));
}

async function runEncodePrompt(input: EncodePromptInput): Promise<Tensor<"float32">> {
  const { textEncoder, tokenizer, prompt, signal } = input;
  const negative = input.negativePrompt ?? "";
  if (typeof prompt !== "string") throw new InvalidArgumentError("prompt", `must be a string, got ${typeof prompt}`);
  if (typeof negative !== "string") {
    throw new InvalidArgumentError("negativePrompt", `must be a string, got ${typeof negative}`);
  }
  throwIfCancelled(signal, "encode");
  const { inputIds, attentionMask } = tokenizer.encode([negative, prompt]);
  const out = await textEncoder.run({ input_ids: inputIds, attention_mask: attentionMask }, signal ? { signal } : {});
  const hs = out.last_hidden_state;
  if (hs?.dtype !== "float32") {
    throw new LongshotError(`${textEncoder.name} (${textEncoder.pack}) returned no float32 last_hidden_state`);
  }
  return hs as Tensor<"float32">;
}
