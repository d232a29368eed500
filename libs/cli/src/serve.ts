/**
 * `longshot serve`: the HTTP JSON API (@longshot/http-api, the gateway's) on the embedded engine
 * (@longshot/embedded), in this process, with no NATS, S3 or gRPC: the home user's one command. Prints the URL it
 * listens on; jobs run one at a time, each in its own folder of the output root, so a restarted serve lists and
 * serves what the last one made. Ctrl-C or SIGTERM drains: no new requests, the running job and the queued ones are
 * cancelled (recorded CANCELLED, so the next start lists them), open event streams end, exit 0.
 */
import path from "node:path";
import { createLogger, LongshotError } from "@longshot/core";
import { EmbeddedJobs } from "@longshot/embedded";
import { Engine } from "@longshot/engine";
import { startHttpApi } from "@longshot/http-api";
import { loadPack } from "@longshot/pack";
import { integer, type OptionSpec, oneOf, parseArgs, UsageError } from "./args.js";
import { EXECUTION_PROVIDERS, serveHelp } from "./help.js";
import type { CliIo } from "./io.js";
import { defaultPackDir } from "./paths.js";

export const SERVE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  host: { meta: "ADDRESS" },
  port: { meta: "N" },
  out: { meta: "DIR" },
  pack: { meta: "DIR" },
  threads: { meta: "N" },
  ep: { meta: EXECUTION_PROVIDERS.join("|") },
  "max-active-jobs": { meta: "N" },
  quiet: { value: false },
  help: { value: false },
};

/** The request limits of the gateway's defaults (its --max-prompt-chars, --max-steps, …). */
export const SERVE_LIMITS = { maxPromptChars: 1000, maxSteps: 150, maxGuidance: 30, maxRequestBytes: 16_384 };
/** Largest request body (the gateway's default --http-max-body-bytes). */
export const SERVE_MAX_BODY_BYTES = 65_536;
/** How long a drain lets open requests and event streams go on. */
const DRAIN_MS = 2000;

export interface ServeArgs {
  host: string;
  port: number;
  out: string;
  pack: string | undefined;
  threads: number | undefined;
  ep: (typeof EXECUTION_PROVIDERS)[number];
  maxActiveJobs: number;
  quiet: boolean;
}

/** Parses and checks the command line. Throws UsageError. */
export function parseServeArgs(argv: readonly string[]): ServeArgs | "help" {
  const { options: o, positionals } = parseArgs(argv, SERVE_OPTIONS);
  if (o.has("help")) return "help";
  if (positionals.length > 0) {
    throw new UsageError(JSON.stringify(positionals[0]), "unexpected argument; serve takes options only");
  }
  const text = (name: string, what: string) => {
    const v = o.get(name);
    if (v !== undefined && v.trim() === "") throw new UsageError(`--${name}`, `must name ${what}`);
    return v;
  };
  return {
    host: text("host", "an address to listen on, e.g. 127.0.0.1 or 0.0.0.0") ?? "127.0.0.1",
    port: o.has("port") ? integer("port", o.get("port") as string, 0, 65_535) : 8080,
    out: text("out", "an output folder") ?? "out",
    pack: text("pack", "a model pack folder"),
    threads: o.has("threads") ? integer("threads", o.get("threads") as string, 1, 1024) : undefined,
    ep: o.has("ep") ? oneOf("ep", o.get("ep") as string, EXECUTION_PROVIDERS) : "cpu",
    maxActiveJobs: o.has("max-active-jobs")
      ? integer("max-active-jobs", o.get("max-active-jobs") as string, 1, 10_000)
      : 16,
    quiet: o.has("quiet"),
  };
}

/** The URL a browser opens for a server listening on host:port. */
export function serveUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
}

export async function serveCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseServeArgs(argv);
  if (parsed === "help") {
    io.stdout.write(serveHelp());
    return 0;
  }
  const args = parsed;
  const logger = createLogger("serve", args.quiet ? "warn" : "info", {
    format: "pretty",
    destination: { write: (s: string) => void io.stderr.write(s) },
  });
  const { dir: packDir, from } =
    args.pack !== undefined ? { dir: path.resolve(args.pack), from: "--pack" } : defaultPackDir(io.env);
  try {
    await loadPack(packDir);
  } catch (err) {
    if (err instanceof LongshotError)
      throw new UsageError(from === "LONGSHOT_PACK" ? "LONGSHOT_PACK" : "--pack", err.message);
    throw err;
  }

  // SIGINT reaches io.signal (main.ts); SIGTERM drains the same way.
  const stop = new AbortController();
  const onStop = () => stop.abort();
  io.signal?.addEventListener("abort", onStop, { once: true });
  process.once("SIGTERM", onStop);
  try {
    const engine = await Engine.create({
      packDir,
      executionProvider: args.ep,
      ...(args.threads === undefined ? {} : { threads: args.threads }),
    });
    try {
      const jobs = await EmbeddedJobs.open({
        engine,
        outRoot: path.resolve(args.out),
        limits: SERVE_LIMITS,
        logger,
        maxActiveJobs: args.maxActiveJobs,
      });
      let api: Awaited<ReturnType<typeof startHttpApi>>;
      try {
        api = await startHttpApi(
          {
            jobs,
            files: jobs.files(),
            packs: new Map([[engine.pack.name, engine.pack.manifest.video]]),
            logger: logger.child({ component: "http" }),
            maxBodyBytes: SERVE_MAX_BODY_BYTES,
          },
          args.host,
          args.port,
        );
      } catch (err) {
        await jobs.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
          throw new UsageError(
            code === "EADDRNOTAVAIL" ? "--host" : "--port",
            `cannot listen: ${(err as Error).message}`,
          );
        }
        throw err;
      }
      io.stdout.write(`longshot serve: ${serveUrl(args.host, api.port)}\n`);
      io.stderr.write(
        `longshot serve: pack ${engine.pack.id}, jobs in ${path.resolve(args.out)}; Ctrl-C stops (the running job is cancelled)\n`,
      );
      if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener("abort", resolve));
      io.stderr.write("longshot serve: stopping\n");
      await jobs.close("longshot serve stopped");
      await api.close(DRAIN_MS);
      io.stderr.write("longshot serve: stopped\n");
      return 0;
    } finally {
      await engine.close();
    }
  } finally {
    process.removeListener("SIGTERM", onStop);
    io.signal?.removeEventListener("abort", onStop);
  }
}
