/**
 * The gateway runs no model: importing its server module must not load the model runtime. Each check imports
 * a module in a fresh node process with a resolve hook (module.registerHooks sees both import and require) that
 * records every module resolved, and reports them.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";

const RECORD_IMPORTS = `
import { registerHooks } from "node:module";
const seen = [];
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    seen.push(specifier, resolved.url);
    return resolved;
  },
});
await import(process.env.IMPORT_URL);
process.stdout.write(JSON.stringify(seen));
`;

/** Specifiers and URLs of every module that importing `url` resolves. */
function resolvedBy(url: string): string[] {
  const out = execFileSync(process.execPath, ["--input-type=module", "--eval", RECORD_IMPORTS], {
    env: { ...process.env, IMPORT_URL: url },
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(out) as string[];
}

const MODEL_RUNTIME =
  /^@longshot\/runtime(\/|$)|^onnxruntime-node(\/|$)|\/node_modules\/onnxruntime-node\/|\/libs\/runtime\//;

describe("the gateway's import graph", () => {
  it("importing the server module loads neither @longshot/runtime nor onnxruntime-node", () => {
    const seen = resolvedBy(new URL("./server.js", import.meta.url).href);
    assert.ok(seen.includes("@longshot/engine/light"), "the check saw the gateway's imports");
    assert.deepEqual(
      seen.filter((s) => MODEL_RUNTIME.test(s)),
      [],
    );
  });

  it("(the check itself: the engine's main entry, with the in-process pipeline, does load them)", () => {
    const seen = resolvedBy(import.meta.resolve("@longshot/engine"));
    assert.ok(seen.includes("@longshot/runtime"), "@longshot/runtime is resolved");
    assert.ok(
      seen.some((s) => /\/node_modules\/onnxruntime-node\//.test(s)),
      "onnxruntime-node is resolved",
    );
  });
});
