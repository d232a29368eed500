/**
 * The integration-test helpers (test-support.ts) are kept identical in the three stage services;
 * this is what remains of the old stage-kit drift test (the stage kit itself is @longshot/stage now).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "./test-support.js";

describe("test-support.ts", () => {
  it("is the same file in the three stage services", async () => {
    const copies = await Promise.all(
      ["keyframe", "interpolation", "decoder"].map((svc) =>
        readFile(path.join(REPO_ROOT, "services", svc, "src", "test-support.ts"), "utf8"),
      ),
    );
    assert.equal(copies[1], copies[0], "services/interpolation/src/test-support.ts differs from services/keyframe's");
    assert.equal(copies[2], copies[0], "services/decoder/src/test-support.ts differs from services/keyframe's");
  });
});
