/** The built `longshot` command as a child process: help, and one-line errors with exit code 2 for bad arguments. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "./paths.js";
import { errorLine, longshot } from "./test-support.js";

/** Runs a command; "no npm" when it is not on PATH. */
function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string } | "no npm"> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", (err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? resolve("no npm") : reject(err)));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("longshot (built CLI)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "longshot-cli-"));
    await mkdir(path.join(dir, "empty"));
    await mkdir(path.join(dir, "bad-pack"));
    await writeFile(path.join(dir, "bad-pack", "pack.json"), JSON.stringify({ format: "longshot.pack/v1", name: "x" }));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("--help, generate --help, probe --help and --version", async () => {
    const main = await longshot(["--help"]);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /longshot generate --prompt/);
    assert.match(main.stdout, /longshot probe/);
    assert.match(main.stdout, /longshot list \[--out DIR \| --remote H:P\]/);
    const list = await longshot(["list", "--help"]);
    assert.equal(list.code, 0);
    for (const flag of ["--out DIR", "--remote HOST:PORT", "--limit N", "--json", "unfinished"]) {
      assert.ok(list.stdout.includes(flag), `list --help mentions ${flag}`);
    }
    assert.equal((await longshot(["help", "list"])).stdout, list.stdout);
    const gen = await longshot(["generate", "--help"]);
    assert.equal(gen.code, 0);
    for (const flag of [
      "--prompt",
      "--seed",
      "--frames 17|65|257",
      "--fps N",
      "--num-videos N",
      "keyframes.png",
      "--steps",
      "--guidance",
      "--mode pinned|seed",
    ]) {
      assert.ok(gen.stdout.includes(flag), `generate --help lists ${flag}`);
    }
    assert.match(gen.stdout, /--sampler ddim\|euler\|euler-a\|dpm\+\+2m/);
    for (const flag of [
      "--pack",
      "--out",
      "--remote",
      "--window",
      "--overlap",
      "--noise",
      "--threads",
      "--ep cpu|cuda",
      "--tls-ca FILE",
      "--remote-http URL",
      "--tls-cert FILE --tls-key FILE",
      "--tls ",
      "LONGSHOT_GRPC_TLS_CA",
    ]) {
      assert.ok(gen.stdout.includes(flag), `generate --help lists ${flag}`);
    }
    // --help wins over other (even bad) arguments.
    assert.equal((await longshot(["generate", "--frames", "30", "--help"])).code, 0);
    const probe = await longshot(["probe", "--help"]);
    assert.equal(probe.code, 0);
    assert.match(probe.stdout, /Usage: longshot probe DIR\|VIDEO/);
    const help = await longshot(["help", "generate"]);
    assert.equal(help.stdout, gen.stdout);
    const version = await longshot(["--version"]);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^longshot \d+\.\d+\.\d+\n$/);
  });

  test("npx longshot prints no npm warning: .npmrc holds only settings npm knows", async (t) => {
    const r = await run("npx", ["--no", "--", "longshot", "--version"], { cwd: REPO_ROOT });
    if (r === "no npm") {
      t.skip("npx is not on PATH");
      return;
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^longshot \d+\.\d+\.\d+\n$/);
    assert.doesNotMatch(r.stderr, /npm warn/i);
  });

  test("CPU installs stay download-free: setup.sh runs npm with onnxruntime-node's skip flag", async () => {
    // onnxruntime-node's postinstall reads ONNXRUNTIME_NODE_INSTALL (then npm_config_onnxruntime_node_install);
    // without a flag it downloads the CUDA provider on linux/x64.
    const setup = await readFile(path.join(REPO_ROOT, "setup.sh"), "utf8");
    const line = setup.split("\n").find((l) => /^export ONNXRUNTIME_NODE_INSTALL=/.test(l));
    assert.ok(line, "setup.sh exports ONNXRUNTIME_NODE_INSTALL before installing");
    const utils = path.join(REPO_ROOT, "node_modules", "onnxruntime-node", "script", "install-utils.js");
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.ONNXRUNTIME_NODE_INSTALL;
    delete env.npm_config_onnxruntime_node_install;
    const r = await run(
      "bash",
      [
        "-c",
        `${line}\nexec "$0" -e 'console.log(String(require(process.argv[1]).parseInstallFlag()))' "$1"`,
        process.execPath,
        utils,
      ],
      { env },
    );
    assert.ok(r !== "no npm");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "false", "parseInstallFlag() is false: the postinstall exits without downloading");
  });

  test("no command or an unknown command: exit 2", async () => {
    const none = await longshot([]);
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /^longshot: missing command: expected generate, list, probe or serve \(see longshot --help\)$/m,
    );
    const unknown = await longshot(["generat"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^longshot: unknown command "generat" \(did you mean generate\?\)/);
  });

  const P = ["generate", "--prompt", "a red circle moving right"];
  const table: Array<{ name: string; args: string[]; arg: string; says: RegExp }> = [
    {
      name: "unknown flag",
      args: [...P, "--colour", "red"],
      arg: "--colour",
      says: /unknown option; options: --prompt/,
    },
    { name: "misspelt flag", args: [...P, "--sed", "3"], arg: "--sed", says: /did you mean --seed\?/ },
    { name: "missing --prompt", args: ["generate", "--seed", "1"], arg: "--prompt", says: /is required/ },
    { name: "empty --prompt", args: ["generate", "--prompt", "  "], arg: "--prompt", says: /must not be empty/ },
    {
      name: "--prompt without a value",
      args: ["generate", "--prompt", "--seed", "1"],
      arg: "--prompt",
      says: /needs a value/,
    },
    {
      name: "--frames 30",
      args: [...P, "--frames", "30"],
      arg: "--frames",
      says: /must be one of 17, 65, 257, got "30"/,
    },
    {
      name: "--mode foo",
      args: [...P, "--mode", "foo"],
      arg: "--mode",
      says: /must be one of pinned, seed, got "foo"/,
    },
    {
      name: "--sampler bad",
      args: [...P, "--sampler", "plms"],
      arg: "--sampler",
      says: /must be one of ddim, euler, euler-a, dpm\+\+2m, got "plms"/,
    },
    {
      name: "--steps 0",
      args: [...P, "--steps", "0"],
      arg: "--steps",
      says: /must be an integer in \[1, \d+\], got "0"/,
    },
    { name: "--steps 2.5", args: [...P, "--steps", "2.5"], arg: "--steps", says: /must be an integer/ },
    {
      name: "--keyframe-steps -3",
      args: [...P, "--keyframe-steps", "-3"],
      arg: "--keyframe-steps",
      says: /must be an integer in \[1, \d+\], got "-3"/,
    },
    {
      name: "--guidance -1",
      args: [...P, "--guidance", "-1"],
      arg: "--guidance",
      says: /must be a number in \[1, 30\]/,
    },
    { name: "--guidance abc", args: [...P, "--guidance=abc"], arg: "--guidance", says: /must be a number/ },
    {
      name: "--interpolation-strength 0",
      args: [...P, "--interpolation-strength", "0"],
      arg: "--interpolation-strength",
      says: /must be above 0/,
    },
    {
      name: "--interpolation-strength 0.05 with 10 steps",
      args: [...P, "--interpolation-strength", "0.05", "--interpolation-steps", "10"],
      arg: "--interpolation-strength",
      says: /runs no step of 10/,
    },
    {
      name: "--interpolation-guidance 99",
      args: [...P, "--interpolation-guidance", "99"],
      arg: "--interpolation-guidance",
      says: /must be a number in \[1, 30\]/,
    },
    {
      name: "non-numeric seed",
      args: [...P, "--seed", "abc"],
      arg: "--seed",
      says: /must be an integer in \[0, 2\^64 - 1\], got "abc"/,
    },
    {
      name: "negative seed",
      args: [...P, "--seed", "-5"],
      arg: "--seed",
      says: /must be an integer in \[0, 2\^64 - 1\]/,
    },
    { name: "seed ≥ 2^64", args: [...P, "--seed", "18446744073709551616"], arg: "--seed", says: /\[0, 2\^64 - 1\]/ },
    { name: "--ep gpu", args: [...P, "--ep", "gpu"], arg: "--ep", says: /must be one of cpu, cuda, got "gpu"/ },
    {
      name: "--threads 0",
      args: [...P, "--threads", "0"],
      arg: "--threads",
      says: /must be an integer in \[1, 1024\]/,
    },
    { name: "--scale 0", args: [...P, "--scale", "0"], arg: "--scale", says: /must be an integer in \[1, 32\]/ },
    { name: "--fps 0", args: [...P, "--fps", "0"], arg: "--fps", says: /must be an integer in \[1, 240\], got "0"/ },
    { name: "--fps 2.5", args: [...P, "--fps", "2.5"], arg: "--fps", says: /must be an integer in \[1, 240\]/ },
    { name: "--fps abc", args: [...P, "--fps=abc"], arg: "--fps", says: /must be an integer in \[1, 240\], got "abc"/ },
    { name: "--fps 1000", args: [...P, "--fps", "1000"], arg: "--fps", says: /must be an integer in \[1, 240\]/ },
    { name: "--fps without a value", args: [...P, "--fps"], arg: "--fps", says: /needs a value \(N\)/ },
    {
      name: "--num-videos 0",
      args: [...P, "--num-videos", "0"],
      arg: "--num-videos",
      says: /must be an integer in \[1, 1000\], got "0"/,
    },
    {
      name: "--num-videos with --noise",
      args: [...P, "--num-videos", "2", "--noise", "n.safetensors"],
      arg: "--num-videos",
      says: /does not go with --noise: .*every video would be the same/,
    },
    {
      name: "--num-videos past the last seed",
      args: [...P, "--num-videos", "3", "--seed", "18446744073709551614"],
      arg: "--num-videos",
      says: /seeds 18446744073709551614 … 18446744073709551616 go past 2\^64 - 1/,
    },
    { name: "--overlap without --window", args: [...P, "--overlap", "4"], arg: "--overlap", says: /needs --window N/ },
    {
      name: "flag given twice",
      args: [...P, "--seed", "1", "--seed", "2"],
      arg: "--seed",
      says: /given more than once/,
    },
    { name: "switch with a value", args: [...P, "--quiet=yes"], arg: "--quiet", says: /takes no value/ },
    {
      name: "positional argument",
      args: ["generate", "a red circle"],
      arg: '"a red circle"',
      says: /unexpected argument/,
    },
    { name: "short flag", args: [...P, "-s", "1"], arg: "-s", says: /unknown option/ },
    {
      name: "--remote with --noise",
      args: [...P, "--remote", "localhost:50051", "--noise", "n.safetensors"],
      arg: "--noise",
      says: /does not apply with --remote: the services draw the noise from the seed/,
    },
    {
      name: "--remote with --window",
      args: [...P, "--remote", "localhost:50051", "--window", "17"],
      arg: "--window",
      says: /does not apply with --remote: the gateway's window plan is used/,
    },
    {
      name: "--remote with --fps",
      args: [...P, "--remote", "localhost:50051", "--fps", "30"],
      arg: "--fps",
      says: /does not apply with --remote: the decoder service writes the video at the pack's frame rate/,
    },
    {
      name: "--tls-ca without --remote",
      args: [...P, "--tls-ca", "ca.pem"],
      arg: "--tls-ca",
      says: /applies only with --remote HOST:PORT/,
    },
    {
      name: "--remote with a client certificate but no TLS",
      args: [...P, "--remote", "localhost:50051", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
      arg: "--tls-cert",
      says: /a client certificate needs TLS: give --tls-ca FILE/,
    },
    {
      name: "--remote-http without --remote",
      args: [...P, "--remote-http", "http://127.0.0.1:8080"],
      arg: "--remote-http",
      says: /applies only with --remote HOST:PORT/,
    },
    {
      name: "--remote-http not an http URL",
      args: [...P, "--remote", "localhost:50051", "--remote-http", "127.0.0.1:8080"],
      arg: "--remote-http",
      says: /must be the gateway's HTTP API as an http:\/\/ or https:\/\/ URL/,
    },
    {
      name: "--remote not HOST:PORT",
      args: [...P, "--remote", "localhost"],
      arg: "--remote",
      says: /must be HOST:PORT/,
    },
  ];
  for (const row of table) {
    test(`bad argument: ${row.name} → exit 2 naming ${row.arg}`, async () => {
      const r = await longshot(row.args);
      assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
      const line = errorLine(r);
      assert.ok(line.startsWith(`longshot generate: ${row.arg}: `), `error names ${row.arg}: ${line}`);
      assert.match(line, row.says);
      assert.equal(r.stdout, "");
    });
  }

  test("--out that cannot be a folder → exit 2 naming --out and why, quickly, leaving nothing behind", async () => {
    const file = path.join(dir, "a-file");
    await writeFile(file, "not a folder");
    const cases: Array<[string, RegExp]> = [
      // The kernel refuses new folders in /proc with ENOENT: Node's recursive mkdir retried that forever.
      ["/proc/longshot-out", /^--out: cannot create \/proc\/longshot-out: .*\/proc.*\(E[A-Z]+\)/],
      [path.join(file, "sub"), /^--out: cannot create .*a-file\/sub: .*a-file is a file, not a folder/],
      [
        path.join(file, "sub", "deeper"),
        /^--out: cannot create .*a-file\/sub\/deeper: .*a-file is a file, not a folder/,
      ],
      [file, /^--out: .*a-file exists and is not a folder/],
    ];
    // --num-videos 2: --out is the folder holding the videos, checked the same way before anything runs.
    const runs = cases.flatMap(
      ([out, says]): Array<[string[], string, RegExp]> => [
        [[], out, says],
        [["--num-videos", "2"], out, says],
      ],
    );
    for (const [extra, out, says] of runs) {
      const t0 = Date.now();
      const r = await longshot([...P, ...extra, "--out", out], { timeoutMs: 30_000 });
      assert.ok(!r.timedOut, `--out ${out}: still running after 30 s`);
      assert.equal(r.code, 2, `--out ${out}: exit code; stderr: ${r.stderr}`);
      const line = errorLine(r);
      assert.ok(line.startsWith("longshot generate: --out: "), line);
      assert.match(line.slice("longshot generate: ".length), says);
      assert.equal(r.stdout, "");
      assert.ok(Date.now() - t0 < 30_000);
    }
    assert.equal(existsSync("/proc/longshot-out"), false);
  });

  test("--pack that is not a pack dir → exit 2 with the pack error", async () => {
    const missing = await longshot([...P, "--pack", path.join(dir, "nope")]);
    assert.equal(missing.code, 2);
    assert.match(errorLine(missing), /^longshot generate: --pack: model pack directory .*nope does not exist/);
    const empty = await longshot([...P, "--pack", path.join(dir, "empty")]);
    assert.equal(empty.code, 2);
    assert.match(errorLine(empty), /^longshot generate: --pack: model pack .*empty has no readable pack\.json/);
    const bad = await longshot([...P, "--pack", path.join(dir, "bad-pack")]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /longshot generate: --pack: invalid model pack .*bad-pack \(\d+ problems\):/);
    const viaEnv = await longshot(P, { env: { LONGSHOT_PACK: path.join(dir, "empty") } });
    assert.equal(viaEnv.code, 2);
    assert.match(errorLine(viaEnv), /^longshot generate: LONGSHOT_PACK: model pack .*empty has no readable pack\.json/);
  });

  test("probe: bad arguments → exit 2", async () => {
    const none = await longshot(["probe"]);
    assert.equal(none.code, 2);
    assert.match(errorLine(none), /^longshot probe: PATH: missing/);
    const missing = await longshot(["probe", path.join(dir, "nope.mp4"), "--prompt", "x"]);
    assert.equal(missing.code, 2);
    assert.match(errorLine(missing), /nope\.mp4 does not exist/);
    const empty = await longshot(["probe", path.join(dir, "empty"), "--prompt", "x"]);
    assert.equal(empty.code, 2);
    assert.match(errorLine(empty), /has neither frames\/NNNN\.png nor video\.mp4/);
    const size = await longshot(["probe", path.join(dir, "empty"), "--size", "64"]);
    assert.equal(size.code, 2);
    assert.match(errorLine(size), /^longshot probe: --size: must be WIDTHxHEIGHT/);
  });
});
