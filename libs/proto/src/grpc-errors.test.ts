import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import {
  CancelledError,
  ConfigError,
  type ErrorCode,
  IntegrityError,
  InvalidArgumentError,
  isTransient,
  LongshotError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from "@longshot/core";
import {
  ERROR_FIELD_KEY,
  ERROR_NAME_KEY,
  fromGrpcError,
  GENERIC_INTERNAL_MESSAGE,
  GrpcCallError,
  grpcStatusName,
  toGrpcError,
} from "./grpc-errors.js";
import type { GrpcLogger } from "./logger.js";

function recordingLogger(): GrpcLogger & { lines: { level: string; obj: object; msg?: string }[] } {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
    };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const ALL_CODES: [ErrorCode, status][] = [
  ["INVALID_ARGUMENT", status.INVALID_ARGUMENT],
  ["NOT_FOUND", status.NOT_FOUND],
  ["ALREADY_EXISTS", status.ALREADY_EXISTS],
  ["FAILED_PRECONDITION", status.FAILED_PRECONDITION],
  ["RESOURCE_EXHAUSTED", status.RESOURCE_EXHAUSTED],
  ["CANCELLED", status.CANCELLED],
  ["DEADLINE_EXCEEDED", status.DEADLINE_EXCEEDED],
  ["UNAVAILABLE", status.UNAVAILABLE],
  ["DATA_LOSS", status.DATA_LOSS],
  ["INTERNAL", status.INTERNAL],
  ["UNIMPLEMENTED", status.UNIMPLEMENTED],
];

describe("toGrpcError", () => {
  for (const [code, expected] of ALL_CODES) {
    it(`maps a LongshotError with code ${code} to status ${expected}, keeping its message`, () => {
      const err = new LongshotError(`something about ${code}`, { code, cause: new Error("secret cause") });
      const mapped = toGrpcError(err);
      assert.equal(mapped.code, expected);
      assert.equal(mapped.details, `something about ${code}`);
      assert.deepEqual(mapped.metadata.get(ERROR_NAME_KEY), ["LongshotError"]);
      assert.deepEqual(mapped.metadata.get(ERROR_FIELD_KEY), []);
    });
  }

  it("maps each core error class by its code and sends its class name", () => {
    const cases: [LongshotError, status, string][] = [
      [new NotFoundError("job j1 not found"), status.NOT_FOUND, "NotFoundError"],
      [new IntegrityError("sha256 mismatch"), status.DATA_LOSS, "IntegrityError"],
      [new UnavailableError("nats down"), status.UNAVAILABLE, "UnavailableError"],
      [new ResourceExhaustedError("queue full"), status.RESOURCE_EXHAUSTED, "ResourceExhaustedError"],
      [new CancelledError(), status.CANCELLED, "CancelledError"],
      [new ConfigError("no pack"), status.FAILED_PRECONDITION, "ConfigError"],
    ];
    for (const [err, code, name] of cases) {
      const mapped = toGrpcError(err);
      assert.equal(mapped.code, code, name);
      assert.deepEqual(mapped.metadata.get(ERROR_NAME_KEY), [name]);
    }
  });

  it("puts the field of an InvalidArgumentError in metadata", () => {
    const mapped = toGrpcError(new InvalidArgumentError("frames", "must be one of 17, 65, 257; got 30"));
    assert.equal(mapped.code, status.INVALID_ARGUMENT);
    assert.equal(mapped.details, "frames: must be one of 17, 65, 257; got 30");
    assert.deepEqual(mapped.metadata.get(ERROR_FIELD_KEY), ["frames"]);
    assert.deepEqual(mapped.metadata.get(ERROR_NAME_KEY), ["InvalidArgumentError"]);
  });

  it("answers INTERNAL with a generic message for unknown errors and logs the real one", () => {
    const logger = recordingLogger();
    const secret = new TypeError("cannot read properties of undefined (reading 'dims') at /srv/app/secret.js:12");
    const mapped = toGrpcError(secret, { logger, method: "/longshot.v1.KeyframeService/RunKeyframe" });
    assert.equal(mapped.code, status.INTERNAL);
    assert.equal(mapped.details, GENERIC_INTERNAL_MESSAGE);
    assert.ok(!mapped.details.includes("secret"));
    const logged = logger.lines.find((l) => l.level === "error");
    assert.ok(logged, "the unknown error is logged");
    assert.equal((logged.obj as { err: unknown }).err, secret);
    assert.equal((logged.obj as { method: string }).method, "/longshot.v1.KeyframeService/RunKeyframe");
  });

  it("treats thrown non-errors (strings, undefined) as unknown", () => {
    for (const thrown of ["boom", undefined, 42, { code: 3, details: "fake status" }]) {
      const mapped = toGrpcError(thrown);
      assert.equal(mapped.code, status.INTERNAL);
      assert.equal(mapped.details, GENERIC_INTERNAL_MESSAGE);
    }
  });

  it("logs server-fault codes at error level with the cause, client faults at debug", () => {
    const logger = recordingLogger();
    toGrpcError(new IntegrityError("latent hash mismatch", { cause: new Error("expected abc") }), { logger });
    toGrpcError(new InvalidArgumentError("prompt", "must not be empty"), { logger });
    assert.deepEqual(
      logger.lines.map((l) => l.level),
      ["error", "debug"],
    );
  });

  it("never sends a stack trace, a cause or a multi-line message", () => {
    const err = new LongshotError("first line\n    at Object.<anonymous> (/srv/x.js:1:1)", {
      code: "FAILED_PRECONDITION",
      cause: new Error("inner"),
    });
    const mapped = toGrpcError(err);
    assert.ok(!mapped.details.includes("\n"));
    assert.ok(!mapped.details.includes("inner"));
    assert.ok(err.stack && !mapped.details.includes(err.stack));
  });

  it("cuts very long messages", () => {
    const mapped = toGrpcError(new LongshotError("x".repeat(5000), { code: "INTERNAL" }));
    assert.ok(mapped.details.length <= 1024);
  });

  it("treats a LongshotError with a code that is not a failure status as unknown", () => {
    const err = new LongshotError("odd", { code: "OK" as ErrorCode });
    assert.equal(toGrpcError(err).code, status.INTERNAL);
    const bogus = new LongshotError("odd", { code: "NOT_A_CODE" as ErrorCode });
    assert.equal(toGrpcError(bogus).code, status.INTERNAL);
  });
});

describe("fromGrpcError / GrpcCallError", () => {
  function serviceError(code: status, details: string, md: Record<string, string> = {}) {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
  }

  it("keeps the status, the remote error name and field", () => {
    const err = fromGrpcError(
      serviceError(status.INVALID_ARGUMENT, "frames: must be one of 17, 65", {
        [ERROR_NAME_KEY]: "InvalidArgumentError",
        [ERROR_FIELD_KEY]: "frames",
      }),
      "/longshot.v1.VideoService/Generate",
    );
    assert.ok(err instanceof GrpcCallError);
    assert.ok(err instanceof LongshotError);
    assert.equal(err.code, "INVALID_ARGUMENT");
    assert.equal(err.grpcCode, status.INVALID_ARGUMENT);
    assert.equal(err.grpcStatus, "INVALID_ARGUMENT");
    assert.equal(err.field, "frames");
    assert.equal(err.remoteName, "InvalidArgumentError");
    assert.equal(err.details, "frames: must be one of 17, 65");
    assert.match(err.message, /VideoService\/Generate failed with INVALID_ARGUMENT: frames: must be one of 17, 65/);
  });

  it("round-trips every core code through toGrpcError", () => {
    for (const [code] of ALL_CODES) {
      const s = toGrpcError(new LongshotError("m", { code }));
      const back = fromGrpcError(Object.assign(new Error("x"), s)) as GrpcCallError;
      assert.equal(back.code, code);
    }
  });

  it("folds codes outside the core set and keeps the exact one", () => {
    const cases: [status, ErrorCode][] = [
      [status.PERMISSION_DENIED, "FAILED_PRECONDITION"],
      [status.UNAUTHENTICATED, "FAILED_PRECONDITION"],
      [status.OUT_OF_RANGE, "INVALID_ARGUMENT"],
      [status.UNKNOWN, "INTERNAL"],
    ];
    for (const [grpcCode, code] of cases) {
      const err = fromGrpcError(serviceError(grpcCode, "d")) as GrpcCallError;
      assert.equal(err.code, code);
      assert.equal(err.grpcStatus, grpcStatusName(grpcCode));
    }
  });

  it("makes UNAVAILABLE and DEADLINE_EXCEEDED transient, others not", () => {
    assert.equal(isTransient(fromGrpcError(serviceError(status.UNAVAILABLE, "down"))), true);
    assert.equal(isTransient(fromGrpcError(serviceError(status.DEADLINE_EXCEEDED, "slow"))), true);
    assert.equal(isTransient(fromGrpcError(serviceError(status.INVALID_ARGUMENT, "bad"))), false);
  });

  it("passes other values through", () => {
    const plain = new Error("not grpc");
    assert.equal(fromGrpcError(plain), plain);
  });
});
