import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromGrpcError, Job, type JobEvent, Mode, OutputFormat, Sampler, Stage, StageState } from "@longshot/proto";
import { UsageError } from "./args.js";
import { checkRemoteArgs, parseGenerateArgs } from "./generate-args.js";
import { describeEvent } from "./progress.js";
import { remoteRequest } from "./remote.js";
import type { TlsFlags } from "./remote-flags.js";
import { RemoteProgress } from "./remote-progress.js";
import { remoteTls, tlsFailure } from "./remote-tls.js";

function step(
  stage: Stage,
  level: number,
  step: number,
  total: number,
  taskId: string,
  window?: { start: number; end: number; index: number; count: number },
): JobEvent {
  return {
    sequence: 1n,
    jobId: "j1",
    time: new Date(),
    event: { $case: "stepProgress", value: { stage, level, step, total, taskId, window } },
  };
}

describe("longshot generate --remote", () => {
  test("maps the command line to a GenerateRequest", () => {
    const args = parseGenerateArgs([
      "--prompt",
      "a red circle",
      "--seed",
      "18446744073709551615",
      "--frames",
      "17",
      "--steps",
      "3",
      "--interpolation-steps",
      "2",
      "--guidance",
      "4",
      "--sampler",
      "euler",
      "--mode",
      "seed",
      "--pack",
      "shapes-mini",
      "--remote",
      "gateway.example:50051",
    ]);
    assert.ok(args !== "help");
    assert.equal(args.remote, "gateway.example:50051");
    const req = remoteRequest(args, "cli-key");
    assert.equal(req.prompt, "a red circle");
    assert.equal(req.seed, 18446744073709551615n);
    assert.equal(req.frames, 17);
    assert.equal(req.keyframeSteps, 3);
    assert.equal(req.interpolationSteps, 2);
    assert.equal(req.keyframeGuidance, 4);
    assert.equal(req.sampler, Sampler.SAMPLER_EULER);
    assert.equal(req.mode, Mode.MODE_SEED);
    assert.equal(req.pack, "shapes-mini");
    assert.equal(req.idempotencyKey, "cli-key");
    assert.deepEqual(req.outputFormats, [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF]);
    const bare = parseGenerateArgs(["--prompt", "x", "--remote", "h:1"]);
    assert.ok(bare !== "help");
    const r = remoteRequest(bare, "k");
    assert.equal(r.seed, undefined, "no --seed: the gateway picks one");
    assert.equal(r.sampler, Sampler.SAMPLER_UNSPECIFIED);
    assert.equal(r.pack, "");
  });

  test("refuses in-process-only flags, naming them", () => {
    for (const flag of ["--noise", "--window", "--overlap", "--threads", "--ep", "--fps"]) {
      assert.throws(
        () => checkRemoteArgs(["--prompt", "x", flag, "1"]),
        (err: unknown) =>
          err instanceof UsageError && err.arg === flag && /does not apply with --remote/.test(err.message),
      );
    }
    checkRemoteArgs(["--prompt", "x", "--steps", "2", "--out", "o"]);
  });

  test("sums the steps of one level's windows into one bar, counting each window once", () => {
    const job = Job.fromPartial({
      id: "j1",
      stages: [
        { stage: Stage.STAGE_KEYFRAME, level: 0, state: StageState.STAGE_STATE_PENDING, totalSteps: 4, totalTasks: 1 },
        { stage: Stage.STAGE_INTERPOLATION, level: 1, totalSteps: 3, totalTasks: 1 },
        { stage: Stage.STAGE_INTERPOLATION, level: 2, totalSteps: 15, totalTasks: 5 },
        { stage: Stage.STAGE_DECODE, level: 0, totalSteps: 65, totalTasks: 1 },
      ],
    });
    const p = new RemoteProgress(job);
    const kf = p.toProgress(step(Stage.STAGE_KEYFRAME, 0, 2, 4, "j1:keyframe"));
    assert.deepEqual(kf, { stage: "keyframes", step: 2, total: 4 });
    const seen: Array<{ done: number; total: number; label: string }> = [];
    const feed = (taskId: string, s: number) => {
      const e = p.toProgress(step(Stage.STAGE_INTERPOLATION, 2, s, 3, taskId));
      assert.ok(e);
      seen.push(describeEvent(e));
    };
    feed("j1:interp2:0-17", 1);
    feed("j1:interp2:12-29", 2);
    feed("j1:interp2:0-17", 1); // repeated
    feed("j1:interp2:0-17", 3);
    feed("j1:interp2:12-29.r2", 3); // a re-run of the same window counts once
    assert.deepEqual(
      seen.map((s) => s.done),
      [1, 3, 3, 5, 6],
    );
    assert.ok(seen.every((s) => s.total === 15));
    for (const w of ["24-41", "36-53", "48-65"]) feed(`j1:interp2:${w}`, 3);
    assert.equal(seen.at(-1)?.done, 15);
    assert.match(seen.at(-1)?.label ?? "", /interpolate L2 \(window 5\/5\)/);
    const dec = p.toProgress(step(Stage.STAGE_DECODE, 0, 16, 65, "j1:decode"));
    assert.deepEqual(dec, { stage: "decode", step: 16, total: 65 });
  });

  test("takes a level's window count from its events: stage_started's total_tasks, each step's window", () => {
    const p = new RemoteProgress(Job.fromPartial({ id: "j1", stages: [] }));
    const started = p.toProgress({
      sequence: 1n,
      jobId: "j1",
      time: new Date(),
      event: { $case: "stageStarted", value: { stage: Stage.STAGE_INTERPOLATION, level: 2, totalTasks: 5 } },
    });
    assert.equal(started?.window?.count, 5);
    const e = p.toProgress(
      step(Stage.STAGE_INTERPOLATION, 2, 3, 3, "j1:interp2:12-29", { start: 12, end: 29, index: 1, count: 5 }),
    );
    assert.ok(e);
    assert.deepEqual(describeEvent(e).total, 15);
    const q = new RemoteProgress(Job.fromPartial({ id: "j1", stages: [] }));
    const fromStep = q.toProgress(
      step(Stage.STAGE_INTERPOLATION, 2, 1, 3, "j1:interp2:0-17", { start: 0, end: 17, index: 0, count: 5 }),
    );
    assert.equal(fromStep?.window?.count, 5);
  });
});

describe("longshot generate --remote with TLS", () => {
  const none: TlsFlags = { on: false, caFile: undefined, certFile: undefined, keyFile: undefined };
  const usage = (arg: string, says: RegExp) => (err: unknown) =>
    err instanceof UsageError && err.arg === arg && says.test(err.message);

  test("parses --tls, --tls-ca, --tls-cert, --tls-key with --remote, and refuses them without it", () => {
    const args = parseGenerateArgs(["--prompt", "x", "--remote", "h:1", "--tls", "--tls-ca", "/ca.pem"]);
    assert.ok(args !== "help");
    assert.deepEqual(args.tls, { on: true, caFile: "/ca.pem", certFile: undefined, keyFile: undefined });
    const bare = parseGenerateArgs(["--prompt", "x", "--remote", "h:1"]);
    assert.ok(bare !== "help");
    assert.deepEqual(bare.tls, none);
    for (const flag of ["--tls", "--tls-ca=/ca.pem", "--tls-cert=/c.pem", "--tls-key=/k.pem"]) {
      const name = flag.split("=")[0] as string;
      assert.throws(() => parseGenerateArgs(["--prompt", "x", flag]), usage(name, /applies only with --remote/));
    }
    assert.throws(
      () => parseGenerateArgs(["--prompt", "x", "--remote", "h:1", "--tls-ca="]),
      usage("--tls-ca", /must name a PEM file/),
    );
  });

  test("plaintext unless a CA or --tls is given; --tls alone uses the system's root CAs", () => {
    const plain = remoteTls(none, {});
    assert.equal(plain.mode, "plaintext");
    assert.equal(plain.credentials, undefined);
    const system = remoteTls({ ...none, on: true }, {});
    assert.equal(system.mode, "tls");
    assert.equal(system.credentials?._isSecure(), true);
  });

  test("flags win over LONGSHOT_GRPC_TLS_*; errors name where the setting came from", () => {
    assert.throws(
      () => remoteTls({ ...none, caFile: "/no/flag-ca.pem" }, { LONGSHOT_GRPC_TLS_CA: "/no/env-ca.pem" }),
      usage("--tls-ca", /cannot read \/no\/flag-ca\.pem: no such file/),
    );
    assert.throws(
      () => remoteTls(none, { LONGSHOT_GRPC_TLS_CA: "/no/env-ca.pem" }),
      usage("LONGSHOT_GRPC_TLS_CA", /cannot read \/no\/env-ca\.pem/),
    );
    assert.throws(
      () => remoteTls(none, { LONGSHOT_GRPC_TLS_CERT: "/c.pem", LONGSHOT_GRPC_TLS_KEY: "/k.pem" }),
      usage("LONGSHOT_GRPC_TLS_CERT", /a client certificate needs TLS: give --tls-ca FILE .* or --tls/),
    );
    assert.throws(
      () => remoteTls({ ...none, on: true, certFile: "/c.pem" }, {}),
      usage("--tls-key", /is not set, but --tls-cert is/),
    );
  });

  test("a TLS handshake failure is reported with the setting to check; other UNAVAILABLE errors are not", () => {
    const unavailable = (details: string) => fromGrpcError(Object.assign(new Error(details), { code: 14, details }));
    const required = tlsFailure(
      unavailable(
        "No connection established. Last error: 40CD:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:rec_layer_s3.c:918:SSL alert number 116\n (2026-11-25T19:26:28.385Z). Resolution note: ",
      ),
      "gw:443",
    );
    assert.ok(required);
    assert.equal(required.code, "UNAVAILABLE");
    assert.match(
      required.message,
      /^gw:443: TLS handshake failed \(40CD:error:.*SSL alert number 116\); the gateway requires a client certificate: give --tls-cert FILE --tls-key FILE$/,
    );
    const untrusted = tlsFailure(
      unavailable(
        "No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ",
      ),
      "gw:443",
    );
    assert.match(
      untrusted?.message ?? "",
      /unable to verify the first certificate\); the gateway's certificate is not signed by the CA given/,
    );
    const plain = tlsFailure(
      unavailable(
        "No connection established. Last error: Error: 0A00010B:SSL routines:tls_validate_record_header:wrong version number:x.c:77:\n. Resolution note: ",
      ),
      "gw:443",
    );
    assert.match(plain?.message ?? "", /wrong version number:x\.c:77\); the gateway does not seem to serve TLS/);
    assert.equal(
      tlsFailure(unavailable("No connection established. Last error: Failed to connect"), "gw:443"),
      undefined,
    );
    assert.equal(tlsFailure(new Error("certificate"), "gw:443"), undefined);
  });
});
