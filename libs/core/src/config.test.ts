import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConfigValidationError,
  configHelp,
  defineConfig,
  describeConfig,
  formatDuration,
  grpcListenConfig,
  loadConfig,
  loadConfigDetailed,
  parseDuration,
  redactConfig,
} from "./config.js";
import { ConfigError } from "./errors.js";

const schema = defineConfig({
  natsUrl: {
    type: "url",
    env: "LONGSHOT_NATS_URL",
    flag: "nats-url",
    default: "nats://127.0.0.1:4222",
    protocols: ["nats", "tls"],
  },
  port: { type: "int", env: "LONGSHOT_PORT", flag: "port", default: 50051, min: 1, max: 65535 },
  guidance: { type: "float", env: "LONGSHOT_GUIDANCE", flag: "guidance", default: 7.5 },
  verbose: { type: "bool", env: "LONGSHOT_VERBOSE", flag: "verbose", default: false },
  device: { type: "enum", values: ["cpu", "cuda"], env: "LONGSHOT_DEVICE", flag: "device", default: "cpu" },
  ackWait: { type: "duration", env: "LONGSHOT_ACK_WAIT", flag: "ack-wait", default: 30_000, min: 1000 },
  bucket: {
    type: "string",
    env: "LONGSHOT_BUCKET",
    required: true,
    validate: (v) => (/^[a-z0-9.-]{3,63}$/.test(v) ? undefined : "is not a valid bucket name"),
  },
  s3SecretKey: { type: "string", env: "LONGSHOT_S3_SECRET_KEY", flag: "s3-secret-key", secret: true },
  region: { type: "string", env: "LONGSHOT_REGION" },
});

const baseEnv = { LONGSHOT_BUCKET: "longshot" };

function load(env: Record<string, string>, argv: string[] = []) {
  return loadConfig(schema, { env: { ...baseEnv, ...env }, argv });
}

function issuesOf(fn: () => unknown): ConfigValidationError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigValidationError, `expected ConfigValidationError, got ${String(err)}`);
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, "FAILED_PRECONDITION");
    return err;
  }
  assert.fail("expected loading to fail");
}

describe("loadConfig", () => {
  it("uses defaults when nothing is set, with the types the schema says", () => {
    const cfg = load({});
    assert.deepEqual(
      { ...cfg },
      {
        natsUrl: "nats://127.0.0.1:4222",
        port: 50051,
        guidance: 7.5,
        verbose: false,
        device: "cpu",
        ackWait: 30_000,
        bucket: "longshot",
        s3SecretKey: undefined,
        region: undefined,
      },
    );
    // Compile-time: fields with a default or `required` are never undefined; enums keep their values.
    const port: number = cfg.port;
    const device: "cpu" | "cuda" = cfg.device;
    const bucket: string = cfg.bucket;
    // @ts-expect-error optional fields may be undefined
    const region: string = cfg.region;
    assert.equal(typeof port, "number");
    assert.equal(device, "cpu");
    assert.equal(bucket, "longshot");
    assert.equal(region, undefined);
    assert.ok(Object.isFrozen(cfg));
  });

  it("reads each type from the environment", () => {
    const cfg = load({
      LONGSHOT_NATS_URL: "tls://nats.internal:4222",
      LONGSHOT_PORT: "8080",
      LONGSHOT_GUIDANCE: "-1.25e1",
      LONGSHOT_VERBOSE: "YES",
      LONGSHOT_DEVICE: "CUDA",
      LONGSHOT_ACK_WAIT: "1m30s",
      LONGSHOT_S3_SECRET_KEY: "hunter22",
    });
    assert.equal(cfg.natsUrl, "tls://nats.internal:4222");
    assert.equal(cfg.port, 8080);
    assert.equal(cfg.guidance, -12.5);
    assert.equal(cfg.verbose, true);
    assert.equal(cfg.device, "cuda");
    assert.equal(cfg.ackWait, 90_000);
    assert.equal(cfg.s3SecretKey, "hunter22");
  });

  it("lets a flag override the environment, in both --flag=value and --flag value forms", () => {
    const { values, sources } = loadConfigDetailed(schema, {
      env: { ...baseEnv, LONGSHOT_PORT: "8080", LONGSHOT_NATS_URL: "nats://env:4222" },
      argv: ["--port=9090", "--nats-url", "nats://flag:4222", "--verbose", "--device=cuda"],
    });
    assert.equal(values.port, 9090);
    assert.equal(values.natsUrl, "nats://flag:4222");
    assert.equal(values.verbose, true);
    assert.equal(values.device, "cuda");
    assert.equal(sources.port, "flag");
    assert.equal(sources.bucket, "env");
    assert.equal(sources.guidance, "default");
    assert.equal(sources.region, "unset");
  });

  it("reads --no-<flag> as false for booleans", () => {
    assert.equal(load({ LONGSHOT_VERBOSE: "true" }, ["--no-verbose"]).verbose, false);
    assert.equal(load({}, ["--verbose=off"]).verbose, false);
  });

  it("treats an empty value as not set", () => {
    assert.equal(load({ LONGSHOT_PORT: "" }).port, 50051);
    assert.equal(load({ LONGSHOT_PORT: "8080" }, ["--port="]).port, 8080);
  });

  it("names the env var and the bad value when an int does not parse", () => {
    const err = issuesOf(() => load({ LONGSHOT_PORT: "80a" }));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.field, "port");
    assert.equal(err.issues[0]?.origin, "LONGSHOT_PORT");
    assert.match(err.message, /port: env LONGSHOT_PORT="80a" is not an integer/);
  });

  it("names the flag when a flag value is bad", () => {
    const err = issuesOf(() => load({}, ["--port=1.5"]));
    assert.match(err.message, /port: flag --port="1\.5" is not an integer/);
  });

  it("rejects out-of-range numbers and durations", () => {
    assert.match(
      issuesOf(() => load({ LONGSHOT_PORT: "70000" })).message,
      /LONGSHOT_PORT="70000" is above the maximum 65535/,
    );
    assert.match(
      issuesOf(() => load({ LONGSHOT_ACK_WAIT: "500ms" })).message,
      /LONGSHOT_ACK_WAIT="500ms" is below the minimum 1s/,
    );
  });

  it("rejects malformed floats, booleans, enums, URLs and durations", () => {
    const err = issuesOf(() =>
      load({
        LONGSHOT_GUIDANCE: "0x10",
        LONGSHOT_VERBOSE: "maybe",
        LONGSHOT_DEVICE: "tpu",
        LONGSHOT_NATS_URL: "localhost:4222x",
        LONGSHOT_ACK_WAIT: "30",
      }),
    );
    // Every problem is reported at once.
    assert.equal(err.issues.length, 5);
    assert.match(err.message, /guidance: env LONGSHOT_GUIDANCE="0x10" is not a number/);
    assert.match(err.message, /verbose: env LONGSHOT_VERBOSE="maybe" is not a boolean/);
    assert.match(err.message, /device: env LONGSHOT_DEVICE="tpu" is not one of cpu, cuda/);
    assert.match(err.message, /natsUrl: env LONGSHOT_NATS_URL="localhost:4222x" (is not an absolute URL|has scheme)/);
    assert.match(err.message, /ackWait: env LONGSHOT_ACK_WAIT="30" is not a duration/);
  });

  it("checks URL schemes", () => {
    assert.match(
      issuesOf(() => load({ LONGSHOT_NATS_URL: "http://127.0.0.1:4222" })).message,
      /natsUrl: env LONGSHOT_NATS_URL="http:\/\/127\.0\.0\.1:4222" has scheme http:, expected nats, tls/,
    );
  });

  it("masks a password inside a rejected URL", () => {
    const message = issuesOf(() => load({ LONGSHOT_NATS_URL: "http://user:pa55@nats:4222" })).message;
    assert.match(message, /LONGSHOT_NATS_URL="http:\/\/user:\*{6}@nats:4222\/?" has scheme http:/);
    assert.doesNotMatch(message, /pa55/);
  });

  it("runs custom validators", () => {
    assert.match(
      issuesOf(() => load({ LONGSHOT_BUCKET: "No_Such" })).message,
      /bucket: env LONGSHOT_BUCKET="No_Such" is not a valid bucket name/,
    );
  });

  it("reports a missing required field with where to set it", () => {
    const err = issuesOf(() => loadConfig(schema, { env: {}, argv: [] }));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.field, "bucket");
    assert.match(err.message, /bucket: is required; set env LONGSHOT_BUCKET/);
  });

  it("never shows a secret's value in errors", () => {
    const secretSchema = defineConfig({
      token: { type: "int", env: "LONGSHOT_TOKEN", secret: true },
    });
    const err = issuesOf(() => loadConfig(secretSchema, { env: { LONGSHOT_TOKEN: "sup3r-s3cret" }, argv: [] }));
    assert.match(err.message, /token: env LONGSHOT_TOKEN=<secret> is not an integer/);
    assert.doesNotMatch(err.message, /sup3r/);
  });

  it("rejects unknown flags, missing flag values and positional arguments unless allowed", () => {
    const err = issuesOf(() => load({}, ["--prot=1", "--nats-url", "extra"]));
    assert.match(err.message, /--prot: unknown flag \(known flags: --nats-url, --port,/);
    // `--nats-url extra` consumes "extra" as its value, which then fails the URL check.
    assert.match(err.message, /natsUrl: flag --nats-url="extra" is not an absolute URL/);
    assert.match(issuesOf(() => load({}, ["--port"])).message, /--port: needs a value/);
    assert.match(issuesOf(() => load({}, ["run"])).message, /unexpected argument "run"/);

    const { values, rest } = loadConfigDetailed(schema, {
      env: baseEnv,
      argv: ["generate", "--prompt=a red circle", "--port=1", "--", "--not-a-flag"],
      allowUnknownFlags: true,
      allowPositionals: true,
    });
    assert.equal(values.port, 1);
    assert.deepEqual(rest, ["generate", "--prompt=a red circle", "--not-a-flag"]);
  });
});

describe("describeConfig", () => {
  it("renders every field with its source and masks secrets", () => {
    const cfg = load({ LONGSHOT_S3_SECRET_KEY: "hunter22", LONGSHOT_NATS_URL: "nats://user:pa55@nats:4222" }, [
      "--port=8080",
    ]);
    const text = describeConfig(schema, cfg);
    assert.doesNotMatch(text, /hunter22/);
    assert.doesNotMatch(text, /pa55/);
    const lines = text.split("\n");
    assert.equal(lines.length, Object.keys(schema).length);
    assert.match(text, /^s3SecretKey += \*{6} +\(env LONGSHOT_S3_SECRET_KEY\)$/m);
    assert.match(text, /^natsUrl += nats:\/\/user:\*{6}@nats:4222 +\(env LONGSHOT_NATS_URL\)$/m);
    assert.match(text, /^port += 8080 +\(flag --port\)$/m);
    assert.match(text, /^ackWait += 30s +\(default\)$/m);
    assert.match(text, /^region += \(unset\) +\(unset\)$/m);
  });

  it("redactConfig gives a plain object for structured logs", () => {
    const cfg = load({ LONGSHOT_S3_SECRET_KEY: "hunter22" });
    const out = redactConfig(schema, cfg);
    assert.equal(out.s3SecretKey, "******");
    assert.equal(out.port, 50051);
    assert.equal(out.region, null);
    assert.doesNotMatch(JSON.stringify(out), /hunter22/);
  });

  it("configHelp lists flags, env vars and defaults without secrets", () => {
    const help = configHelp(schema);
    assert.match(help, /--port=INT +port \[env LONGSHOT_PORT, default 50051\]/);
    assert.match(help, /--device=cpu\|cuda/);
    assert.match(help, /--verbose +verbose/);
    assert.match(help, /\(bucket\) +bucket \[env LONGSHOT_BUCKET, required\]/);
  });
});

describe("defineConfig", () => {
  it("rejects schema mistakes", () => {
    assert.throws(
      () =>
        defineConfig({
          a: { type: "int", env: "SAME" },
          b: { type: "string", env: "SAME", flag: "--b" },
          c: { type: "enum", values: ["x", "y"], default: "z" as "x" },
          d: { type: "int", default: 1.5 },
          e: { type: "int", default: 0, min: 1 },
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /b: env SAME is also used by a/);
        assert.match(err.message, /b: flag "--b" must be lower-case/);
        assert.match(err.message, /c: default z is not one of x, y/);
        assert.match(err.message, /d: default 1\.5 is not an integer/);
        assert.match(err.message, /e: default 0 is below the minimum 1/);
        return true;
      },
    );
  });
});

describe("durations", () => {
  it("parses and formats", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("2d"), 172_800_000);
    assert.equal(parseDuration("0"), 0);
    assert.equal(parseDuration("10"), undefined);
    assert.equal(parseDuration("-5s"), undefined);
    assert.equal(parseDuration("5 s"), undefined);
    assert.equal(formatDuration(5_400_000), "1h30m");
    assert.equal(formatDuration(90_250), "1m30s250ms");
    assert.equal(formatDuration(0), "0");
    for (const ms of [1, 999, 1000, 61_001, 86_400_000 + 1]) assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});

describe("grpcListenConfig", () => {
  it("binds 0.0.0.0 on the given default port; LONGSHOT_GRPC_* and --grpc-* override, ports checked", () => {
    const schema = grpcListenConfig(50052);
    assert.deepEqual(loadConfig(schema, { env: {}, argv: [] }), { grpcHost: "0.0.0.0", grpcPort: 50052 });
    assert.deepEqual(loadConfig(schema, { env: { LONGSHOT_GRPC_HOST: "127.0.0.1" }, argv: ["--grpc-port=0"] }), {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
    });
    assert.throws(() => loadConfig(schema, { env: {}, argv: ["--grpc-port=70000"] }), /grpcPort/);
  });
});
