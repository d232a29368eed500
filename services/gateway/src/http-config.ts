/**
 * Configuration of the gateway's HTTP JSON API (spread into the gateway's schema). Its TLS is the gRPC
 * server's: the same LONGSHOT_GRPC_TLS_CERT / _KEY / _CA serve both listeners (plaintext, TLS or mutual TLS).
 * Its address is the gRPC server's too unless LONGSHOT_HTTP_HOST says otherwise.
 */
import { type ConfigValues, defineConfig } from "@longshot/core";

export const httpConfig = defineConfig({
  httpEnabled: {
    type: "bool",
    env: "LONGSHOT_HTTP",
    flag: "http",
    default: true,
    description:
      "Serve the HTTP JSON API (/v1/videos, /openapi.json) beside gRPC, with the gRPC TLS settings; --no-http: gRPC only",
  },
  httpHost: {
    type: "string",
    env: "LONGSHOT_HTTP_HOST",
    flag: "http-host",
    description: "Address the HTTP API binds; unset: grpcHost (a gateway bound to 127.0.0.1 serves HTTP there too)",
  },
  httpPort: {
    type: "int",
    env: "LONGSHOT_HTTP_PORT",
    flag: "http-port",
    default: 8080,
    min: 0,
    max: 65535,
    description: "HTTP API port (0 picks a free one)",
  },
  httpMaxBodyBytes: {
    type: "int",
    env: "LONGSHOT_HTTP_MAX_BODY_BYTES",
    flag: "http-max-body-bytes",
    default: 65_536,
    min: 1024,
    max: 4_194_304,
    description: "Largest HTTP request body accepted; a larger one is answered 413 naming this limit",
  },
});

export type HttpConfig = ConfigValues<typeof httpConfig>;
