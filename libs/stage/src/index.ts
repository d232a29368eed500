export * from "./blob-store.js";
export * from "./config.js";
export * from "./latents.js";
export * from "./stage-queue.js";
export * from "./stage-server.js";
export * from "./task-clock.js";
