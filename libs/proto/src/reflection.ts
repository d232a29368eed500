/**
 * Server reflection (so grpcurl and similar tools work without .proto files): the schema comes from
 * the FileDescriptorSet generated next to the code (gen/descriptor-set.ts), plus grpc.health.v1.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { type ChannelCredentials, Client, credentials as grpcCredentials, Metadata } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { DEFAULT_DEADLINE_MS } from "./client.js";
import { fromGrpcError } from "./grpc-errors.js";
import { fileDescriptorSetBase64 } from "./gen/descriptor-set.js";

/** Name of the health service as reflection lists it. */
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

let cached: protoLoader.PackageDefinition | undefined;

/** proto-loader package definition of longshot.v1 (and the well-known types) plus grpc.health.v1. */
export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  if (!cached) {
    const longshot = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(fileDescriptorSetBase64, "base64"));
    const health = protoLoader.loadSync(healthProtoPath);
    cached = { ...longshot, ...health };
  }
  return cached;
}

/** Fully-qualified names of the longshot services in the schema, e.g. "longshot.v1.VideoService". */
export function schemaServiceNames(): string[] {
  return Object.entries(reflectionPackageDefinition())
    .filter(([name, def]) => name.startsWith("longshot.") && !("format" in def) && !("type" in def))
    .map(([name]) => name)
    .sort();
}

interface ReflectionResponse {
  listServicesResponse?: { service?: { name?: string }[] };
  errorResponse?: { errorCode?: number; errorMessage?: string };
}

let reflectionMethod: protoLoader.MethodDefinition<object, ReflectionResponse> | undefined;

function serverReflectionInfo(): protoLoader.MethodDefinition<object, ReflectionResponse> {
  if (!reflectionMethod) {
    // The reflection proto ships inside @grpc/reflection (build/proto); resolve it from the package root.
    const packageJson = createRequire(import.meta.url).resolve("@grpc/reflection/package.json");
    const file = path.join(path.dirname(packageJson), "build/proto/grpc/reflection/v1/reflection.proto");
    const definition = protoLoader.loadSync(file);
    const service = definition["grpc.reflection.v1.ServerReflection"] as protoLoader.ServiceDefinition | undefined;
    const method = service?.ServerReflectionInfo;
    if (!method) throw new InvalidArgumentError("reflection.proto", `${file} has no ServerReflection/ServerReflectionInfo`);
    reflectionMethod = method as protoLoader.MethodDefinition<object, ReflectionResponse>;
  }
  return reflectionMethod;
}

/**
 * The services a server lists through reflection (grpc.reflection.v1 ListServices), sorted — what
 * `grpcurl -plaintext <address> list` prints.
 */
export function listServices(
  address: string,
  options: { deadlineMs?: number; credentials?: ChannelCredentials } = {},
): Promise<string[]> {
  const method = serverReflectionInfo();
  const client = new Client(address, options.credentials ?? grpcCredentials.createInsecure());
  const deadline = new Date(Date.now() + (options.deadlineMs ?? DEFAULT_DEADLINE_MS));
  return new Promise<string[]>((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      { deadline },
    );
    let names: string[] | undefined;
    call.on("data", (response: ReflectionResponse) => {
      if (response.errorResponse) {
        reject(new LongshotError(`${address}: reflection error ${response.errorResponse.errorCode ?? "?"}: ${response.errorResponse.errorMessage ?? ""}`));
        return;
      }
      names = (response.listServicesResponse?.service ?? []).map((s) => s.name ?? "").sort();
    });
    call.on("error", (err) => reject(fromGrpcError(err, method.path)));
    call.on("end", () => {
      if (names) resolve(names);
      else reject(new LongshotError(`${address}: reflection answered no ListServices response`));
    });
    call.write({ listServices: "" });
    call.end();
  }).finally(() => client.close());
}
