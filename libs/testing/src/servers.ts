import { ConfigError } from "@longshot/core";
import { probeDocker, startDockerJaeger, startDockerMinio, startDockerNats } from "./docker.js";
import { LocalNats, startLocalOtlp, startLocalS3 } from "./local.js";
import type {
  NatsHandle,
  OtlpHandle,
  RestartOptions,
  S3Handle,
  ServerMode,
  ServerOptions,
  Stoppable,
  TestServers,
} from "./types.js";

const LOG_PREFIX = "[@longshot/testing]";

async function chooseMode(requested: ServerOptions["mode"]): Promise<{ mode: ServerMode; why: string }> {
  const env = process.env.LONGSHOT_TEST_SERVERS?.trim().toLowerCase();
  const wanted = requested && requested !== "auto" ? requested : env && env !== "auto" ? env : "auto";
  if (wanted === "local")
    return { mode: "local", why: requested === "local" ? "requested" : "LONGSHOT_TEST_SERVERS=local" };
  const probe = await probeDocker();
  if (wanted === "docker") {
    if (!probe.ok) throw new ConfigError(`Docker servers requested but no Docker engine is usable: ${probe.reason}`);
    return { mode: "docker", why: "requested" };
  }
  if (wanted !== "auto") {
    throw new ConfigError(`LONGSHOT_TEST_SERVERS=${env}: expected docker, local or auto`);
  }
  return probe.ok
    ? { mode: "docker", why: "Docker engine reachable" }
    : { mode: "local", why: `no Docker engine: ${probe.reason}` };
}

/**
 * Starts the requested servers: containers when a Docker engine answers (path A), otherwise local
 * processes on free ports (path B). Prints one line saying which path it took and where the servers are.
 * Use `await using servers = await startServers({...})`, or call `servers.stop()` in an `after` hook.
 */
export async function startServers<O extends ServerOptions>(opts: O & ServerOptions): Promise<TestServers<O>> {
  const { mode, why } = await chooseMode(opts.mode);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  let nats: (NatsHandle & { dispose(): Promise<void> }) | undefined;
  let s3: (S3Handle & Stoppable) | undefined;
  let otlp: (OtlpHandle & Stoppable) | undefined;

  const tasks: Array<Promise<unknown>> = [];
  if (opts.nats) tasks.push((mode === "docker" ? startDockerNats() : LocalNats.start()).then((h) => (nats = h)));
  if (opts.s3) tasks.push((mode === "docker" ? startDockerMinio() : startLocalS3()).then((h) => (s3 = h)));
  if (opts.otlp) tasks.push((mode === "docker" ? startDockerJaeger() : startLocalOtlp()).then((h) => (otlp = h)));

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const results = await Promise.allSettled([nats?.dispose(), s3?.stop(), otlp?.stop()]);
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failures.length > 0) {
        throw new AggregateError(
          failures.map((f) => f.reason),
          `stopping test servers: ${failures.map((f) => String(f.reason)).join("; ")}`,
        );
      }
    })();
    return stopped;
  };

  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop().catch(() => {});
    throw failed.reason;
  }

  const where = [
    nats ? `nats=${nats.url}` : "",
    s3 ? `s3=${s3.url}` : "",
    otlp ? `otlp=${otlp.endpoint} (${otlp.backend})` : "",
  ].filter(Boolean);
  const path = mode === "docker" ? "Docker containers via testcontainers" : "local processes";
  log(`${LOG_PREFIX} test servers: ${path} (${why}); ${where.join(" ") || "none requested"}`);

  const servers = {
    mode,
    nats,
    s3,
    otlp,
    async restartNats(restart?: RestartOptions): Promise<void> {
      if (!nats) throw new ConfigError("restartNats(): NATS was not started (pass { nats: true } to startServers)");
      await nats.restart(restart);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return servers as unknown as TestServers<O>;
}
