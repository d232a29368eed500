/**
 * Imported by ort-worker.ts before onnxruntime-node, for its side effect only.
 *
 * onnxruntime-common stores float16 tensor data in a Float16Array whenever the global exists (Node >= 24) and even
 * converts a Uint16Array it is given into a Float16Array view, but the onnxruntime-node 1.30 native binding measures
 * a Float16Array input as 0 bytes and fails with "not enough space: expected N, got 0" (microsoft/onnxruntime
 * #26791; fix pending in PR #32323). onnxruntime-common decides which array type to use the first time a Tensor is
 * constructed, so hiding the global in the worker's own realm before that makes float16 travel as raw Uint16Array
 * bits, which the binding handles and which is also how @longshot/tensor stores float16. Only the worker thread
 * that hosts onnxruntime is affected.
 */
const g = globalThis as { Float16Array?: unknown };
if (g.Float16Array !== undefined) delete g.Float16Array;

export {};
