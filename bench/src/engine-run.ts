/**
 * One run of one engine-benchmark case, in a process of its own (`main.js engine-run`, started by
 * engine-bench.ts): load the pack, generate, write the outputs as `longshot generate` does, probe the video, and
 * report seconds and peak memory per stage. A fresh process per run keeps one run's memory high-water mark and
 * allocator state out of the next run's numbers, and times what a `longshot generate` user waits for.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Engine, type GenerateOptions, type ProgressEvent } from "@longshot/engine";
import { DEFAULT_SCALE, writeVideoOutputs } from "@longshot/media";
import { score } from "@longshot/probe";
import { MemoryMonitor } from "./memory.js";
import type { ProbeSummary, RunRecord, WindowSetting } from "./results.js";
import { toMB, toSeconds } from "./stats.js";

/** What the parent asks a run to do (passed as JSON on the command line). */
export interface RunSpec {
  caseId: string;
  run: number;
  runs: number;
  packDir: string;
  prompt: string;
  seed: number;
  frames: number;
  window: WindowSetting | null;
  /** Both stages' steps; null = the pack's defaults. */
  steps: number | null;
  threads: number | null;
  outputs: boolean;
  /** A full garbage collection after every progress event (the process runs with --expose-gc). */
  gcEachStep?: boolean;
}

/** Memory-monitor label of a progress event: encode, keyframes, interp1, interp2, …, decode. */
export function stageLabel(e: ProgressEvent): string {
  return e.stage === "interpolate" ? `interp${e.level ?? 0}` : e.stage;
}

export function probeSummary(s: ReturnType<typeof score>): ProbeSummary {
  return {
    ok: s.ok,
    colourOk: s.colourOk,
    shapeOk: s.shapeOk,
    motionOk: s.motionOk,
    backgroundOk: s.backgroundOk,
    smooth: s.smooth,
    maxStepRatio: Number.isFinite(s.maxStepRatio) ? Math.round(s.maxStepRatio * 1000) / 1000 : null,
    want: { ...s.want },
    got: { ...s.got },
  };
}

export async function engineRun(spec: RunSpec, log: (line: string) => void): Promise<RunRecord> {
  const tag = `${spec.caseId} run ${spec.run}/${spec.runs}`;
  const mon = new MemoryMonitor(50);
  mon.enter("load");
  log(`${tag}: loading ${spec.packDir}`);
  let t = performance.now();
  const engine = await Engine.create({
    packDir: spec.packDir,
    ...(spec.threads === null ? {} : { threads: spec.threads }),
  });
  const loadMs = performance.now() - t;
  mon.watchRuntime(() => engine.runtime.memoryInfo());
  const runtime = engine.runtime.describe();
  const baseline = mon.rss();

  const opts: GenerateOptions = {
    prompt: spec.prompt,
    seed: spec.seed,
    frames: spec.frames,
    window: spec.window,
    ...(spec.steps === null ? {} : { keyframeSteps: spec.steps, interpolationSteps: spec.steps }),
  };
  let result: Awaited<ReturnType<Engine["generate"]>>;
  let current = "";
  const gc = spec.gcEachStep ? (globalThis as { gc?: () => void }).gc : undefined;
  if (spec.gcEachStep && !gc) throw new Error("gcEachStep needs node --expose-gc (bench engine adds it)");
  try {
    result = await engine.generate(opts, {
      onProgress: (e) => {
        gc?.();
        const label = stageLabel(e);
        if (label === current) return;
        current = label;
        mon.enter(label);
        log(`${tag}: ${e.stage === "interpolate" ? `interpolation level ${e.level} → ${e.frames} frames` : e.stage}`);
      },
    });
  } finally {
    await engine.close();
  }

  let outputsMs: number | null = null;
  if (spec.outputs) {
    mon.enter("outputs");
    log(`${tag}: writing PNG frames, MP4 and GIF`);
    const dir = await mkdtemp(path.join(os.tmpdir(), "longshot-bench-"));
    try {
      t = performance.now();
      await writeVideoOutputs(
        dir,
        { frames: result.frames, width: result.width, height: result.height, fps: result.fps },
        { scale: DEFAULT_SCALE },
      );
      outputsMs = performance.now() - t;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  // From the process start (performance's time origin): node start-up and imports included.
  const wallMs = performance.now();
  const memory = mon.stop();
  const probe = probeSummary(score({ frames: result.frames, width: result.width, height: result.height }, spec.prompt));
  const s = result.settings;
  const tm = result.timings;
  return {
    run: spec.run,
    seconds: {
      load: toSeconds(loadMs),
      encode: toSeconds(tm.encode),
      keyframes: toSeconds(tm.keyframes),
      interpolation: tm.interpolateLevels.map(toSeconds),
      decode: toSeconds(tm.decode),
      generate: toSeconds(tm.total),
      outputs: outputsMs === null ? null : toSeconds(outputsMs),
      wall: toSeconds(wallMs),
    },
    memory: { ...memory, baselineMB: toMB(baseline) },
    probe,
    settings: {
      frames: s.frames,
      levels: s.levels,
      sampler: s.sampler,
      mode: s.mode,
      keyframeSteps: s.keyframeSteps,
      interpolationSteps: s.interpolationSteps,
      keyframeGuidance: s.keyframeGuidance,
      interpolationGuidance: s.interpolationGuidance,
      window: s.window,
      decodeBatch: s.decodeBatch,
      seed: s.seed,
    },
    runtime: {
      executionProvider: runtime.executionProvider,
      intraOpNumThreads: runtime.intraOpNumThreads,
      onnxruntimeVersion: runtime.onnxruntimeVersion,
    },
  };
}
