/**
 * grpc.health.v1 client helpers (the server side is grpc-health-check's HealthImplementation,
 * installed by createGrpcServer). For readiness probes, smoke tests and drain checks.
 */
import { type ChannelCredentials, Client, credentials as grpcCredentials } from "@grpc/grpc-js";
import { service as healthServiceDefinition } from "grpc-health-check";
import { type CallOptions, DEFAULT_DEADLINE_MS, serverStream, unary } from "./client.js";
import type { MethodDefinition } from "./handlers.js";

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

interface HealthCheckRequest {
  service: string;
}
interface HealthCheckResponse {
  status: ServingStatus;
}

const check = healthServiceDefinition.Check as unknown as MethodDefinition<HealthCheckRequest, HealthCheckResponse>;
const watch = healthServiceDefinition.Watch as unknown as MethodDefinition<HealthCheckRequest, HealthCheckResponse>;

export interface HealthCallOptions extends CallOptions {
  credentials?: ChannelCredentials;
}

function clientFor(target: string | Client, credentials?: ChannelCredentials): { client: Client; owned: boolean } {
  if (typeof target !== "string") return { client: target, owned: false };
  return { client: new Client(target, credentials ?? grpcCredentials.createInsecure()), owned: true };
}

/**
 * The serving status of `service` ("" = the whole server) at `target` (an address, or a client whose
 * channel to reuse). Rejects with a GrpcCallError: NOT_FOUND for a service the server does not know,
 * UNAVAILABLE when nothing answers.
 */
export async function checkHealth(
  target: string | Client,
  service = "",
  options: HealthCallOptions = {},
): Promise<ServingStatus> {
  const { client, owned } = clientFor(target, options.credentials);
  try {
    const response = await unary(client, check, { service }, { defaultDeadlineMs: DEFAULT_DEADLINE_MS, ...options });
    return response.status;
  } finally {
    if (owned) client.close();
  }
}

/** Every status change of `service` at `target`, starting with the current one (grpc.health.v1 Watch). */
export async function* watchHealth(
  target: string | Client,
  service = "",
  options: HealthCallOptions = {},
): AsyncGenerator<ServingStatus, void, undefined> {
  const { client, owned } = clientFor(target, options.credentials);
  try {
    for await (const response of serverStream(client, watch, { service }, options)) yield response.status;
  } finally {
    if (owned) client.close();
  }
}
