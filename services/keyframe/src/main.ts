/**
 * Entry point of the keyframe service: `node dist/main.js [--flags]` (see --help). runStageService
 * (@longshot/stage) loads the configuration, starts serving and pulling tasks, and drains on SIGTERM/SIGINT.
 */
import { runStageService } from "@longshot/stage";
import { keyframeServiceSpec } from "./server.js";

runStageService(keyframeServiceSpec);
