/**
 * Server reflection (so grpcurl and similar tools work without .proto files): the schema comes from
 * the FileDescriptorSet generated next to the code (gen/descriptor-set.ts), plus grpc.health.v1.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { type ChannelCredentials, Client, credentials as grpcCredentials, Metadata } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { DEFAULT_DEADLINE_MS } from "./client.js";
import { fileDescriptorSetBase64 } from "./gen/descriptor-set.js";
import { fromGrpcError } from "./grpc-errors.js";

/** Name of the health service as reflection lists it. */
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

let cached: protoLoader.PackageDefinition | undefined;
let ourFiles: FileDescriptorProto[] | undefined;

/** The FileDescriptorProtos of longshot.v1 and the well-known types it imports, as protoc wrote them. */
function longshotFiles(): FileDescriptorProto[] {
  ourFiles ??= fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSetBase64, "base64")).file;
  return ourFiles;
}

/**
 * What @grpc/reflection reads: a package definition whose entries carry `fileDescriptorProtos`.
 * Ours are the files exactly as protoc/buf described them (real file names and `dependency` lists),
 * not proto-loader's regeneration, which merges a package's files into one and drops their imports
 * (then grpcurl cannot resolve google.protobuf.Timestamp). grpc.health.v1 (one file, no imports)
 * comes from grpc-health-check's proto via proto-loader.
 */
export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const fileDescriptorProtos = longshotFiles().map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  // Reflection reads only fileDescriptorProtos; the entry is not a real message definition.
  const schema = { format: "Protocol Buffer 3 DescriptorProto", type: {}, fileDescriptorProtos };
  const definition: protoLoader.PackageDefinition = {
    "longshot.v1 (descriptor set)": schema as unknown as protoLoader.MessageTypeDefinition<object, object>,
    ...protoLoader.loadSync(healthProtoPath),
  };
  cached = definition;
  return definition;
}

/** Fully-qualified names of the longshot services in the schema, e.g. "longshot.v1.VideoService". */
export function schemaServiceNames(): string[] {
  return longshotFiles()
    .flatMap((file) => file.service.map((service) => `${file.package}.${service.name}`))
    .sort();
}

interface ReflectionResponse {
  listServicesResponse?: { service?: { name?: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto?: Uint8Array[] };
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
    if (!method)
      throw new InvalidArgumentError("reflection.proto", `${file} has no ServerReflection/ServerReflectionInfo`);
    reflectionMethod = method as protoLoader.MethodDefinition<object, ReflectionResponse>;
  }
  return reflectionMethod;
}

export interface ReflectionCallOptions {
  deadlineMs?: number;
  credentials?: ChannelCredentials;
}

/** One grpc.reflection.v1 request/response exchange. */
function reflect(address: string, request: object, options: ReflectionCallOptions): Promise<ReflectionResponse> {
  const method = serverReflectionInfo();
  const client = new Client(address, options.credentials ?? grpcCredentials.createInsecure());
  const deadline = new Date(Date.now() + (options.deadlineMs ?? DEFAULT_DEADLINE_MS));
  return new Promise<ReflectionResponse>((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      { deadline },
    );
    let response: ReflectionResponse | undefined;
    call.on("data", (r: ReflectionResponse) => {
      response = r;
    });
    call.on("error", (err) => reject(fromGrpcError(err, method.path)));
    call.on("end", () => {
      if (!response) reject(new LongshotError(`${address}: reflection sent no response`));
      else if (response.errorResponse) {
        const { errorCode, errorMessage } = response.errorResponse;
        reject(new LongshotError(`${address}: reflection error ${errorCode ?? "?"}: ${errorMessage ?? ""}`));
      } else resolve(response);
    });
    call.write(request);
    call.end();
  }).finally(() => client.close());
}

/**
 * The services a server lists through reflection (grpc.reflection.v1 ListServices), sorted — what
 * `grpcurl -plaintext <address> list` prints.
 */
export async function listServices(address: string, options: ReflectionCallOptions = {}): Promise<string[]> {
  const response = await reflect(address, { listServices: "" }, options);
  return (response.listServicesResponse?.service ?? []).map((s) => s.name ?? "").sort();
}

/**
 * The file declaring `symbol` and the files it imports, as a server's reflection returns them —
 * what grpcurl fetches for `describe` and to encode requests.
 */
export async function fileContainingSymbol(
  address: string,
  symbol: string,
  options: ReflectionCallOptions = {},
): Promise<FileDescriptorProto[]> {
  const response = await reflect(address, { fileContainingSymbol: symbol }, options);
  return (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, new Uint8Array(bytes)),
  );
}
