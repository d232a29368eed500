/** What machine a benchmark ran on: CPU, cores (and any cgroup quota), memory, Node, onnxruntime-node, load. */
import { readFileSync } from "node:fs";
import os from "node:os";
import { createModelRuntime } from "@longshot/runtime";
import type { MachineInfo } from "./results.js";

/** The onnxruntime-node version the runtime loads (from a runtime that is created and closed without a model). */
export async function onnxruntimeVersion(): Promise<string> {
  const runtime = createModelRuntime({});
  try {
    return runtime.describe().onnxruntimeVersion;
  } finally {
    await runtime.close();
  }
}

function cpuQuota(): string | null {
  try {
    return readFileSync("/sys/fs/cgroup/cpu.max", "utf8").trim() || null;
  } catch {
    return null;
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export function loadAverage(): number[] {
  return os.loadavg().map(round2);
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() || "unknown",
    cores: Math.max(1, cpus.length),
    availableParallelism: os.availableParallelism(),
    cpuQuota: cpuQuota(),
    memoryMB: Math.round(os.totalmem() / 2 ** 20),
    platform: os.platform(),
    arch: os.arch(),
    kernel: os.release(),
    node: process.version,
    onnxruntimeNode: await onnxruntimeVersion(),
    loadAverage: { start: loadAverage(), end: null },
  };
}
