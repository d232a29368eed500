export * from "./noise.js";
export * from "./schedulers/index.js";
