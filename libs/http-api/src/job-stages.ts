/**
 * `Job.stages` of a new job, the same for the gateway and `longshot serve`: one PENDING entry per stage
 * (keyframe, each interpolation level, decode) with the steps and tasks its request plans.
 */
import { strengthBeginIndex } from "@longshot/engine/light";
import { type GenerateRequest, Stage, type StageProgress, StageState } from "@longshot/proto";

/**
 * The stages of a job for a resolved `request` (its step counts filled in from the pack): `windowsPerLevel[i]`
 * is the window count of interpolation level i + 1 (1 for a level run as one whole pass), `frames` the output
 * frames, which the decode stage counts as its steps.
 */
export function plannedStages(
  request: GenerateRequest,
  windowsPerLevel: readonly number[],
  frames: number,
): StageProgress[] {
  const pending = (stage: Stage, level: number, totalSteps: number, totalTasks: number): StageProgress => ({
    stage,
    level,
    state: StageState.STAGE_STATE_PENDING,
    completedSteps: 0,
    totalSteps,
    completedTasks: 0,
    totalTasks,
    startTime: undefined,
    endTime: undefined,
  });
  // A pass of strength < 1 runs only the last floor(steps · strength) of its steps.
  const steps = request.interpolationSteps ?? 0;
  const stepsRun = steps > 0 ? steps - strengthBeginIndex(steps, request.interpolationStrength ?? 1) : 0;
  return [
    pending(Stage.STAGE_KEYFRAME, 0, request.keyframeSteps ?? 0, 1),
    ...windowsPerLevel.map((windows, i) => pending(Stage.STAGE_INTERPOLATION, i + 1, stepsRun * windows, windows)),
    pending(Stage.STAGE_DECODE, 0, frames, 1),
  ];
}
