/**
 * For this package's integration tests: the flags of a gateway in process against the test servers (gRPC and
 * HTTP on free ports of 127.0.0.1, the tiny pack, a 5 s ack wait). Not exported from the package.
 */
import { fileURLToPath } from "node:url";
import type { TestServers } from "@longshot/testing";

export const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

export type Servers = TestServers<{ nats: true; s3: true }>;

/** The flags of a gateway on `servers` with its objects in `bucket`; `extra` flags come last. */
export function gatewayArgs(servers: Servers, bucket: string, extra: readonly string[] = []): string[] {
  return [
    "--grpc-host=127.0.0.1",
    "--grpc-port=0",
    "--http-host=127.0.0.1",
    "--http-port=0",
    `--pack=${TINY_PACK}`,
    `--nats-url=${servers.nats.url}`,
    ...(servers.nats.user === undefined
      ? []
      : [`--nats-user=${servers.nats.user}`, `--nats-password=${servers.nats.pass}`]),
    `--s3-endpoint=${servers.s3.url}`,
    `--s3-bucket=${bucket}`,
    `--s3-access-key=${servers.s3.accessKey}`,
    `--s3-secret-key=${servers.s3.secretKey}`,
    "--ack-wait=5s",
    ...extra,
  ];
}
