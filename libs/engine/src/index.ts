export * from "./light.js";
export * from "./pipeline.js";
export * from "./tokenizer.js";
