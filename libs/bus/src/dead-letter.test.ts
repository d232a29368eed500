import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IntegrityError } from "@longshot/core";
import { decodeDeadLetter, makeDeadLetterRecord, oneLineReason } from "./dead-letter.js";

describe("dead-letter records", () => {
  it("keeps the reason on one bounded line and a bounded copy of the payload", () => {
    const r = makeDeadLetterRecord({
      kind: "permanent",
      reason: "first line\n  second\tline",
      code: "DATA_LOSS",
      stage: "decode",
      stream: "LONGSHOT_TASKS",
      consumer: "decode",
      subject: "longshot.tasks.decode",
      streamSequence: 9,
      deliveryCount: 1,
      workerId: "host/1",
      payload: new Uint8Array(70 * 1024).fill(7),
    });
    assert.equal(r.reason, "first line second line");
    assert.equal(r.payloadBytes, 70 * 1024);
    assert.equal(r.payloadTruncated, true);
    assert.equal(Buffer.from(r.payloadBase64, "base64").length, 64 * 1024);
    assert.deepEqual(decodeDeadLetter(new TextEncoder().encode(JSON.stringify(r))), r);
    assert.equal(oneLineReason("x".repeat(5000)).length, 2000);
  });

  it("refuses a body that is not a record", () => {
    assert.throws(
      () => decodeDeadLetter(new Uint8Array([0xff])),
      (e: Error) => e instanceof IntegrityError && /not JSON/.test(e.message),
    );
    assert.throws(
      () => decodeDeadLetter(new TextEncoder().encode('{"kind":"x"}')),
      /lacks kind, reason, stage or streamSequence/,
    );
    assert.throws(() => decodeDeadLetter(new TextEncoder().encode("null")), IntegrityError);
  });
});
