/** `longshot serve`'s command line, without starting a server (serve.int.test.ts runs it). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "./args.js";
import { parseServeArgs, serveUrl } from "./serve.js";

describe("longshot serve arguments", () => {
  it("defaults to 127.0.0.1:8080, out/, cpu", () => {
    assert.deepEqual(parseServeArgs([]), {
      host: "127.0.0.1",
      port: 8080,
      out: "out",
      pack: undefined,
      threads: undefined,
      ep: "cpu",
      maxActiveJobs: 16,
      quiet: false,
    });
    assert.equal(parseServeArgs(["--help"]), "help");
  });

  it("takes --port 0 (any free port), --host, --out, --pack, --threads, --ep, --max-active-jobs", () => {
    const a = parseServeArgs([
      "--port=0",
      "--host",
      "0.0.0.0",
      "--out",
      "runs",
      "--pack",
      "p",
      "--threads",
      "2",
      "--ep",
      "cuda",
      "--max-active-jobs",
      "3",
      "--quiet",
    ]);
    assert.ok(a !== "help");
    assert.deepEqual(
      [a.port, a.host, a.out, a.pack, a.threads, a.ep, a.maxActiveJobs, a.quiet],
      [0, "0.0.0.0", "runs", "p", 2, "cuda", 3, true],
    );
  });

  it("names the argument that is wrong", () => {
    const arg = (argv: string[]) => {
      try {
        parseServeArgs(argv);
      } catch (err) {
        assert.ok(err instanceof UsageError, String(err));
        return err.arg;
      }
      assert.fail(`${argv.join(" ")} was accepted`);
    };
    assert.equal(arg(["--port", "65536"]), "--port");
    assert.equal(arg(["--port", "http"]), "--port");
    assert.equal(arg(["--threads", "0"]), "--threads");
    assert.equal(arg(["--ep", "tpu"]), "--ep");
    assert.equal(arg(["--out", " "]), "--out");
    assert.equal(arg(["--host", ""]), "--host");
    assert.equal(arg(["now"]), '"now"');
    assert.equal(arg(["--prompt", "x"]), "--prompt");
  });

  it("prints a URL a browser opens", () => {
    assert.equal(serveUrl("127.0.0.1", 8080), "http://127.0.0.1:8080/");
    assert.equal(serveUrl("0.0.0.0", 1234), "http://127.0.0.1:1234/");
    assert.equal(serveUrl("::1", 80), "http://[::1]:80/");
  });
});
