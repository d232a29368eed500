export { float32ArrayToFloat16 } from "./float16.js";
export { decodeSafetensors, encodeSafetensors } from "./safetensors.js";
export { type DType, numel, Tensor, type TensorData } from "./tensor.js";
