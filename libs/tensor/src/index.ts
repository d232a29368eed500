export * from "./float16.js";
export * from "./safetensors.js";
export * from "./tensor.js";
