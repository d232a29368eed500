#!/usr/bin/env node
/**
 * grpc.health.v1 probe for the longshot images (grpc_health_probe is a Go binary, not on npm):
 *
 *   node deploy/docker/healthcheck.mjs [--addr=HOST:PORT] [--service=NAME] [--timeout=MS]
 *        [--tls-ca=FILE] [--tls-cert=FILE --tls-key=FILE] [--server-name=NAME]
 *
 * Exits 0 when the server reports SERVING for the service, 1 otherwise (NOT_SERVING while starting or
 * draining, a service the server does not know, no answer in time), with the reason on stderr; 2 for
 * bad arguments.
 *
 * Defaults: --addr 127.0.0.1:$LONGSHOT_GRPC_PORT, --service "" (the whole server), --timeout 3000.
 * TLS is used when a CA is given (--tls-ca, else $LONGSHOT_GRPC_TLS_CA); a client certificate and key
 * (--tls-cert/--tls-key, else $LONGSHOT_GRPC_TLS_CERT/$LONGSHOT_GRPC_TLS_KEY) are sent when the server
 * asks for one (mutual TLS). --server-name overrides the name checked against the server certificate.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

const USAGE =
  "usage: healthcheck.mjs [--addr=HOST:PORT] [--service=NAME] [--timeout=MS] " +
  "[--tls-ca=FILE] [--tls-cert=FILE --tls-key=FILE] [--server-name=NAME]";

function fail(code, message) {
  process.stderr.write(`healthcheck: ${message}\n`);
  process.exit(code);
}

function readFile(what, path) {
  try {
    return readFileSync(path);
  } catch (err) {
    return fail(2, `${what} ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

let args;
try {
  args = parseArgs({
    options: {
      addr: { type: "string" },
      service: { type: "string", default: "" },
      timeout: { type: "string", default: "3000" },
      "tls-ca": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "server-name": { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  fail(2, `${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const env = process.env;
let addr = args.addr;
if (addr === undefined) {
  const port = env.LONGSHOT_GRPC_PORT;
  if (port === undefined || !/^\d{1,5}$/.test(port)) {
    fail(
      2,
      `give --addr=HOST:PORT or set LONGSHOT_GRPC_PORT (it is ${port === undefined ? "not set" : JSON.stringify(port)})`,
    );
  }
  addr = `127.0.0.1:${port}`;
}
if (!/^[^\s:]+:\d{1,5}$/.test(addr) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(addr)) {
  fail(2, `--addr must be HOST:PORT, got ${JSON.stringify(addr)}`);
}
const timeoutMs = Number(args.timeout);
if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) {
  fail(2, `--timeout must be a whole number of milliseconds in 1..600000, got ${JSON.stringify(args.timeout)}`);
}

const caFile = args["tls-ca"] ?? (env.LONGSHOT_GRPC_TLS_CA || undefined);
const certFile = args["tls-cert"] ?? (env.LONGSHOT_GRPC_TLS_CERT || undefined);
const keyFile = args["tls-key"] ?? (env.LONGSHOT_GRPC_TLS_KEY || undefined);
if ((certFile === undefined) !== (keyFile === undefined)) {
  fail(2, "a client certificate and its key go together (--tls-cert and --tls-key)");
}
if (caFile === undefined && certFile !== undefined) {
  fail(2, "a client certificate needs TLS: give the CA too (--tls-ca)");
}
const channelCredentials =
  caFile === undefined
    ? credentials.createInsecure()
    : credentials.createSsl(
        readFile("CA", caFile),
        keyFile === undefined ? null : readFile("client key", keyFile),
        certFile === undefined ? null : readFile("client certificate", certFile),
      );
const options = args["server-name"] === undefined ? {} : { "grpc.ssl_target_name_override": args["server-name"] };

const client = new Client(addr, channelCredentials, options);
const check = healthService.Check;
const what = `${addr}${args.service === "" ? "" : ` service ${JSON.stringify(args.service)}`}`;
client.makeUnaryRequest(
  check.path,
  check.requestSerialize,
  check.responseDeserialize,
  { service: args.service },
  new Metadata(),
  { deadline: Date.now() + timeoutMs },
  (err, response) => {
    client.close();
    if (err) {
      // 5 = NOT_FOUND: the server does not know that service name; 4 = DEADLINE_EXCEEDED; 14 = UNAVAILABLE.
      fail(1, `${what}: ${err.details || err.message} (gRPC status ${err.code})`);
    }
    const status = response?.status;
    if (status !== "SERVING") fail(1, `${what}: ${status ?? "no status"}`);
    process.stdout.write(`${what}: SERVING\n`);
    process.exit(0);
  },
);
