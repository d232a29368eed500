import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "./config.js";
import { InvalidArgumentError, NotFoundError } from "./errors.js";
import { createLogger, type LogLevel, loggingConfig } from "./logging.js";

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

describe("createLogger", () => {
  it("writes one JSON object per line with service, level label and ISO time", () => {
    const out = capture();
    const log = createLogger("keyframe", "info", { format: "json", destination: out.destination });
    log.info({ jobId: "j1" }, "job started");
    log.debug("not written at info");
    assert.equal(out.lines.length, 1);
    const rec = JSON.parse(out.lines[0] as string) as Record<string, unknown>;
    assert.equal(rec.level, "info");
    assert.equal(rec.service, "keyframe");
    assert.equal(rec.msg, "job started");
    assert.equal(rec.jobId, "j1");
    assert.equal(rec.pid, process.pid);
    assert.match(String(rec.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("honours the level and child bindings", () => {
    const out = capture();
    const log = createLogger("gateway", "debug", { format: "json", destination: out.destination });
    log.child({ jobId: "j2" }).debug("step");
    log.trace("too fine");
    assert.equal(out.lines.length, 1);
    const rec = JSON.parse(out.lines[0] as string) as Record<string, unknown>;
    assert.equal(rec.level, "debug");
    assert.equal(rec.jobId, "j2");
  });

  it("serializes errors with code, field and cause", () => {
    const out = capture();
    const log = createLogger("decoder", "info", { format: "json", destination: out.destination });
    const err = new InvalidArgumentError("frames", "must be at most 65", { cause: new NotFoundError("pack") });
    log.error({ err }, "rejected");
    const rec = JSON.parse(out.lines[0] as string) as { err: Record<string, unknown> };
    assert.equal(rec.err.type, "InvalidArgumentError");
    assert.equal(rec.err.code, "INVALID_ARGUMENT");
    assert.equal(rec.err.field, "frames");
    assert.equal(rec.err.message, "frames: must be at most 65");
    assert.equal((rec.err.cause as Record<string, unknown>).message, "pack");
  });

  it("redacts secret-looking keys", () => {
    const out = capture();
    const log = createLogger("gateway", "info", { format: "json", destination: out.destination });
    log.info({ password: "p4ss", s3: { secretKey: "k3y", endpoint: "minio:9000" } }, "connecting");
    assert.doesNotMatch(out.lines[0] as string, /p4ss|k3y/);
    assert.match(out.lines[0] as string, /minio:9000/);
  });

  it("writes readable lines in pretty format", () => {
    const out = capture();
    const log = createLogger("interpolation", "info", { format: "pretty", destination: out.destination });
    log.warn({ window: 3 }, "slow step");
    assert.match(out.lines[0] as string, /^\d{2}:\d{2}:\d{2}\.\d{3} WARN {2}interpolation: slow step window=3\n$/);
  });

  it("rejects a bad level or service naming the argument", () => {
    assert.throws(
      () => createLogger("x", "verbose" as LogLevel),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "level" && /"verbose"/.test(err.message),
    );
    assert.throws(
      () => createLogger(" ", "info"),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "service",
    );
  });

  it("takes its level from the shared logging config", () => {
    const cfg = loadConfig(loggingConfig, { env: { LONGSHOT_LOG_LEVEL: "WARN" }, argv: [] });
    assert.equal(cfg.logLevel, "warn");
    const out = capture();
    const log = createLogger("keyframe", cfg.logLevel, { format: "json", destination: out.destination });
    log.info("dropped");
    log.warn("kept");
    assert.equal(out.lines.length, 1);
  });
});
