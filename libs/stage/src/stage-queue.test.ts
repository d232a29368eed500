/** Unit tests of the stage queue's error type (the queue itself: stage-queue.int.test.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTransient, LongshotError } from "@longshot/core";
import { PackMismatchError } from "./stage-queue.js";

describe("PackMismatchError", () => {
  it("is a permanent FAILED_PRECONDITION LongshotError carrying its message", () => {
    const err = new PackMismatchError("task is for pack other-pack 2.0.0, this process runs shapes-mini 1.0.0");
    assert.ok(err instanceof LongshotError);
    assert.equal(err.name, "PackMismatchError");
    assert.equal(err.code, "FAILED_PRECONDITION");
    assert.match(err.message, /other-pack 2\.0\.0/);
    assert.equal(isTransient(err), false);
  });
});
