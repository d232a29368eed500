export * from "./init.js";
export * from "./metrics.js";
export * from "./propagation.js";
export * from "./semconv.js";
export * from "./spans.js";
