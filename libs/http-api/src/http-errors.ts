/**
 * Errors at the HTTP edge: the one table from the error codes of @longshot/core (gRPC status names) to
 * HTTP statuses, and the JSON body every error is answered with, `{error: {code, message, field}}`.
 *
 * The table follows the HTTP mapping google.rpc.Code documents. As at the gRPC edge (`toGrpcError`), a
 * LongshotError keeps its code and message, anything else is INTERNAL with a generic message (the real
 * error is logged, never sent), and no stack trace or cause leaves the process. What only HTTP has (a body
 * that is not JSON, too large, of another media type; a field of the wrong JSON type) is INVALID_ARGUMENT
 * naming the field, with the status HTTP has for it (400, 413, 415).
 */
import { type ErrorCode, InvalidArgumentError, type Logger, LongshotError } from "@longshot/core";

/** HTTP status of each error code. */
export const HTTP_STATUS_OF_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  DATA_LOSS: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

export const GENERIC_INTERNAL_MESSAGE = "internal error; the server logged the details";

const SERVER_FAULT_CODES: ReadonlySet<ErrorCode> = new Set(["INTERNAL", "DATA_LOSS", "UNIMPLEMENTED"]);

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field: string | null };
}

/** An error only HTTP has, with its own status (413, 415, …); its code is INVALID_ARGUMENT. */
export class HttpRequestError extends InvalidArgumentError {
  readonly status: number;
  constructor(status: number, field: string, message: string) {
    super(field, message);
    this.name = "HttpRequestError";
    this.status = status;
  }
}

/** The fields of the gRPC request that the HTTP API names otherwise (a query parameter of another name). */
export type FieldNames = Readonly<Record<string, string>>;

function renamed(field: string, names: FieldNames | undefined): string {
  if (names === undefined) return field;
  const head = /^[a-z_]+/.exec(field)?.[0] ?? field;
  const to = names[head];
  return to === undefined ? field : `${to}${field.slice(head.length)}`;
}

/**
 * The status and body for an error a handler threw. `names` renames fields the HTTP API calls otherwise
 * (ListJobs' page_size is the query's `limit`); the message's leading field name is renamed with it.
 */
export function httpErrorOf(
  err: unknown,
  options: { logger?: Logger; names?: FieldNames; route?: string } = {},
): { status: number; body: ErrorBody } {
  if (err instanceof LongshotError && HTTP_STATUS_OF_CODE[err.code] !== undefined) {
    const status = err instanceof HttpRequestError ? err.status : HTTP_STATUS_OF_CODE[err.code];
    let message = err.message;
    let field: string | null = null;
    if (err instanceof InvalidArgumentError) {
      field = renamed(err.field, options.names);
      if (message.startsWith(`${err.field}: `)) message = `${field}: ${message.slice(err.field.length + 2)}`;
    }
    if (SERVER_FAULT_CODES.has(err.code)) options.logger?.error({ err, route: options.route }, err.message);
    return { status, body: { error: { code: err.code, message, field } } };
  }
  options.logger?.error({ err, route: options.route }, "unhandled error in an HTTP handler");
  return { status: 500, body: { error: { code: "INTERNAL", message: GENERIC_INTERNAL_MESSAGE, field: null } } };
}

/** One error of JSON Schema validation (an Ajv ErrorObject's fields that matter here). */
export interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string | undefined;
  params: Record<string, unknown>;
}

/**
 * The field a schema validation error is about, in the API's spelling: `/output_formats/1` →
 * `output_formats[1]`, a missing or unknown property by its name; for headers, the header's name.
 * `part` is what fastify validated: body, querystring, params or headers; `headerNames` spells header names.
 */
export function fieldOfSchemaError(e: SchemaError, part: string, headerNames: FieldNames = {}): string {
  const segments = e.instancePath.split("/").slice(1);
  const extra = e.params.missingProperty ?? e.params.additionalProperty;
  if (typeof extra === "string") segments.push(extra);
  if (segments.length === 0) return part === "body" ? "body" : part;
  const [head, ...rest] = segments;
  if (part === "headers") return headerNames[String(head)] ?? String(head);
  return `${head}${rest.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join("")}`;
}

/** The InvalidArgumentError for a failed schema validation, naming the field. */
export function schemaValidationError(
  errors: readonly SchemaError[],
  part: string,
  headerNames: FieldNames = {},
): InvalidArgumentError {
  const e = errors[0] as SchemaError;
  const field = fieldOfSchemaError(e, part, headerNames);
  // An anyOf reports each branch's error, then its own, at the same path.
  const here = errors.filter((x) => x.instancePath === e.instancePath);
  let message: string;
  if (e.keyword === "additionalProperties") {
    message = `is not a field of this request${part === "querystring" ? " (an unknown query parameter)" : ""}`;
  } else if (e.keyword === "required") {
    message = "is required";
  } else if (e.keyword === "enum") {
    message = `must be one of ${((e.params.allowedValues as unknown[]) ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
  } else if (here.some((x) => x.keyword === "anyOf")) {
    const specific = here.find((x) => x.keyword !== "type" && x.keyword !== "anyOf");
    const types = here.filter((x) => x.keyword === "type").map((x) => String(x.params.type));
    message = specific?.message ?? `must be ${types.join(" or ")}`;
  } else {
    message = e.message ?? "is not valid";
  }
  return new InvalidArgumentError(field, message);
}
