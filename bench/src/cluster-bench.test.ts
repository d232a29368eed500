import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { UsageError } from "@longshot/cli";
import { LongshotError } from "@longshot/core";
import {
  clusterBenchCommand,
  commandProgram,
  parseClusterArgs,
  stageSecondsFromEngine,
  throughputBound,
} from "./cluster-bench.js";
import { REPO_ROOT } from "./paths.js";
import { type EngineResults, parseResultFile } from "./results.js";

const FIXTURE = new URL("../fixtures/engine-sample.json", import.meta.url);
const fixture = () => parseResultFile("f.json", JSON.parse(readFileSync(FIXTURE, "utf8"))) as EngineResults;

class Sink {
  text = "";
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe("throughput bound X = min(1/K, N/I, 1/D)", () => {
  test("interpolation-bound with one replica, keyframe-bound with many", () => {
    const stage = { keyframe: 10, interpolation: 40, decode: 5 };
    assert.deepEqual(throughputBound(stage, 1), { perMinute: 1.5, bottleneck: "interpolation" });
    assert.deepEqual(throughputBound(stage, 2), { perMinute: 3, bottleneck: "interpolation" });
    assert.deepEqual(throughputBound(stage, 8), { perMinute: 6, bottleneck: "keyframe" });
    assert.deepEqual(throughputBound({ keyframe: 1, interpolation: 1, decode: 4 }, 1), {
      perMinute: 15,
      bottleneck: "decode",
    });
  });

  test("refuses stage seconds that are not positive and replica counts below 1", () => {
    assert.throws(() => throughputBound({ keyframe: 0, interpolation: 1, decode: 1 }, 1), /keyframe must be > 0/);
    assert.throws(() => throughputBound({ keyframe: 1, interpolation: 1, decode: 1 }, 0), /replicas must be ≥ 1/);
  });
});

describe("stage seconds from an engine result file", () => {
  test("K = encode + keyframes, I = all levels, D = decode + outputs; medians of the whole-pass case", () => {
    const s = stageSecondsFromEngine(fixture(), 65);
    assert.equal(s.caseId, "f65");
    assert.ok(Math.abs(s.keyframe - 5.05) < 1e-9);
    assert.equal(s.interpolation, 24);
    assert.ok(Math.abs(s.decode - 4.1) < 1e-9);
  });

  test("no such case, or a case whose videos failed the probe, is a usage error", () => {
    assert.throws(
      () => stageSecondsFromEngine(fixture(), 33),
      (e: unknown) =>
        e instanceof UsageError && /no whole-pass case of 33 frames \(it has 17, 65, 257\)/.test(e.message),
    );
    const r = fixture();
    const run = r.cases[1]?.runs[0];
    assert.ok(run);
    run.probe.ok = false;
    assert.throws(() => stageSecondsFromEngine(r, 65), /case f65's videos failed the probe/);
  });
});

describe("parseClusterArgs", () => {
  test("defaults and lists", () => {
    const a = parseClusterArgs(["--embedded", "e.json", "--interpolation", "4,1,2,2"]);
    assert.ok(a !== "help");
    assert.deepEqual(a.replicas, [1, 2, 4]);
    assert.equal(a.frames, 65);
    assert.equal(a.gateway, "127.0.0.1:50051");
    assert.equal(a.up, "scripts/cluster up --interpolation {N} --http-port 0");
  });

  test("bad arguments name the option", () => {
    assert.throws(
      () => parseClusterArgs([]),
      (e: unknown) => e instanceof UsageError && e.arg === "--embedded",
    );
    assert.throws(
      () => parseClusterArgs(["--embedded", "e.json", "--gateway", "localhost"]),
      /--gateway: must be HOST:PORT/,
    );
    assert.throws(
      () => parseClusterArgs(["--embedded", "e.json", "--up", "scripts/cluster up"]),
      /--up: must contain \{N\}/,
    );
    assert.throws(
      () => parseClusterArgs(["--embedded", "e.json", "--interpolation", "0"]),
      /--interpolation: must be an integer in \[1, 256\]/,
    );
  });

  test("the program of a command", () => {
    assert.equal(commandProgram("scripts/cluster up --interpolation 2"), path.join(REPO_ROOT, "scripts", "cluster"));
    assert.equal(commandProgram("docker compose up"), null);
  });
});

describe("cluster command", () => {
  test("--dry-run prints the plan and measures nothing", async () => {
    const out = new Sink();
    const err = new Sink();
    const code = await clusterBenchCommand(["--embedded", FIXTURE.pathname, "--interpolation", "1,2", "--dry-run"], {
      stdout: out,
      stderr: err,
    });
    assert.equal(code, 0);
    assert.match(out.text, /^scripts\/cluster up --interpolation 1 --http-port 0$/m);
    assert.match(out.text, /^scripts\/cluster up --interpolation 2 --http-port 0$/m);
    assert.match(err.text, /bound N=1: 2\.50 jobs\/min \(interpolation\), N=2: 5\.00 jobs\/min \(interpolation\)/);
  });

  test("without the distributed services it refuses, saying where the numbers will come from", async () => {
    await assert.rejects(
      clusterBenchCommand(
        [
          "--embedded",
          FIXTURE.pathname,
          "--up",
          "scripts/no-such-cluster up --interpolation {N}",
          "--down",
          "scripts/no-such-cluster down",
        ],
        { stdout: new Sink(), stderr: new Sink() },
      ),
      (e: unknown) =>
        e instanceof LongshotError &&
        e.code === "FAILED_PRECONDITION" &&
        /scripts\/no-such-cluster is not in this checkout .*distributed pipeline issue/.test(e.message),
    );
  });
});
