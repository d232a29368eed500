import { InvalidArgumentError } from "@longshot/core";
import { asConfigObject } from "./config.js";
import { DDIMScheduler } from "./ddim.js";
import { DPMSolverMultistepScheduler } from "./dpm-solver-multistep.js";
import { EulerAncestralDiscreteScheduler } from "./euler-ancestral-discrete.js";
import { EulerDiscreteScheduler } from "./euler-discrete.js";
import type { Scheduler } from "./types.js";

export const SCHEDULER_NAMES = ["ddim", "euler", "euler-a", "dpm++2m"] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

export function isSchedulerName(name: unknown): name is SchedulerName {
  return typeof name === "string" && (SCHEDULER_NAMES as readonly string[]).includes(name);
}

/**
 * Builds a scheduler by its short name from a diffusers `scheduler_config.json` object (any scheduler's
 * config works, as with `XScheduler.from_config(pipe.scheduler.config)`: keys the chosen scheduler does
 * not know are ignored). The name fixes what it names: "dpm++2m" is DPM-Solver++ of order 2 whatever the
 * config's `algorithm_type` / `solver_order` say; construct {@link DPMSolverMultistepScheduler} directly
 * for other orders.
 */
export function createScheduler(name: SchedulerName, config: unknown = {}): Scheduler {
  const cfg = asConfigObject(config);
  switch (name) {
    case "ddim":
      return new DDIMScheduler(cfg);
    case "euler":
      return new EulerDiscreteScheduler(cfg);
    case "euler-a":
      return new EulerAncestralDiscreteScheduler(cfg);
    case "dpm++2m":
      return new DPMSolverMultistepScheduler({ ...cfg, algorithm_type: "dpmsolver++", solver_order: 2 });
    default:
      throw new InvalidArgumentError(
        "scheduler",
        `unknown scheduler ${JSON.stringify(name)}; expected one of ${SCHEDULER_NAMES.join(", ")}`,
      );
  }
}
