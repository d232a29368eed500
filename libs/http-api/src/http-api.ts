/**
 * The HTTP JSON API of longshot, shaped after OpenAI's `/v1/videos` (docs/http-api.md), served by the gateway
 * beside gRPC and by `longshot serve`:
 *
 *   POST /v1/videos                      Generate → 201 with the video (200 when the idempotency key was seen)
 *   GET  /v1/videos                      ListJobs, newest first, a page at a time
 *   GET  /v1/videos/{job_id}             GetJob
 *   POST /v1/videos/{job_id}/cancel      CancelJob
 *   GET  /v1/videos/{job_id}/content     the MP4 (or GIF), streamed from the store; ?variant=spritesheet: the
 *                                        keyframes as one PNG, as soon as the keyframe stage has completed
 *   GET  /v1/videos/{job_id}/events      WatchJob as server-sent events, resumed after Last-Event-ID
 *   GET  /openapi.json                   the OpenAPI 3.1 document of all of it (committed as docs/openapi.json)
 *
 * Every route calls the job service the gRPC handlers call ({@link VideoJobs}: validation, idempotency,
 * admission, state), so the APIs cannot disagree; this module only translates JSON and errors (http-present.ts,
 * http-errors.ts). Fastify checks each request against the route's JSON Schema (http-schemas.ts) and
 * serializes each answer through it, and the OpenAPI document is built from the same route table.
 */
import { once } from "node:events";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import type { Readable } from "node:stream";
import { type Logger, LongshotError, NotFoundError } from "@longshot/core";
import {
  type GenerateRequest,
  type GenerateResponse,
  type Job,
  type JobEvent,
  JobState,
  type ListJobsRequest,
  ListJobsRequest as ListJobsRequestMessage,
  type ListJobsResponse,
  OutputFormat,
} from "@longshot/proto";
import { registerWebPage } from "@longshot/web";
import { context, propagation } from "@opentelemetry/api";
import { Ajv2020 } from "ajv/dist/2020.js";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { generateInSpan } from "./generate-span.js";
import {
  type FieldNames,
  HttpRequestError,
  httpErrorOf,
  type SchemaError,
  schemaValidationError,
} from "./http-errors.js";
import { eventOf, generateRequestOf, jobStatesOf, type PackVideo, videoOf } from "./http-present.js";
import {
  type CreateVideoBody,
  cancelVideoBody,
  contentQuery,
  createVideoBody,
  createVideoHeaders,
  eventsHeaders,
  HEADER_NAMES,
  jobIdParams,
  listVideosQuery,
  ref,
  STATUSES,
  sharedSchemas,
} from "./http-schemas.js";
import { checkListJobs } from "./list-check.js";

/**
 * The job service the API runs on: the operations of the gRPC VideoService, in its protobuf types. The gateway's
 * JobService (NATS JetStream, S3) and longshot serve's EmbeddedJobs (@longshot/embedded) implement it. Each checks
 * a Generate request with {@link validateGenerateRequest}, so both answer a bad field the same way.
 */
export interface VideoJobs {
  /** Checks, queues and returns the job (deduplicated: an idempotency key seen before). */
  generate(request: GenerateRequest): Promise<GenerateResponse>;
  /** NOT_FOUND for an unknown job; INVALID_ARGUMENT (job_id) for a malformed id. */
  getJob(jobId: string): Promise<Job>;
  /** Newest first; `checkListJobs` has checked the request. */
  listJobs(request: ListJobsRequest): Promise<ListJobsResponse>;
  /** A job that has ended is returned unchanged. */
  cancelJob(jobId: string, reason: string): Promise<Job>;
  /** The job's events from `fromSequence` on, then live ones, ending after the terminal event. */
  watchJob(jobId: string, fromSequence: bigint, signal: AbortSignal): AsyncIterable<JobEvent>;
}

/** Size of a stored file. */
export interface FileStat {
  readonly bytes: number;
}

/** Where the API reads a job's files from (the gateway's S3 store; serve's output folders). */
export interface VideoFiles {
  /** The key `stat` and `open` take for an artifact's URI. */
  keyOf(uri: string): string;
  /** NotFoundError when the file is gone. */
  stat(key: string): Promise<FileStat>;
  open(key: string): Promise<Readable>;
  /**
   * The PNG of the job's keyframes side by side at the video's size (`keyframePreviewPng` of @longshot/media);
   * NotFoundError until the keyframe stage has completed (and after its latents were removed).
   */
  keyframesPng(job: Job): Promise<Uint8Array>;
}

export interface HttpApiOptions {
  jobs: VideoJobs;
  files: VideoFiles;
  /** Size and fps of each pack this server serves, by name. */
  packs: ReadonlyMap<string, PackVideo>;
  logger: Logger;
  /** Largest request body; larger is 413. */
  maxBodyBytes: number;
  /** The setting that changes maxBodyBytes, named in the 413 message (e.g. "--http-max-body-bytes"). */
  maxBodySetting?: string | undefined;
  /** TLS of the listener (httpsOptionsOf the gRPC TLS settings); absent: plaintext. */
  https?: HttpsServerOptions | undefined;
  /** How often an idle event stream sends a comment line, so proxies keep it open (default 15 s). */
  keepAliveMs?: number;
}

/** The video files `content` serves by `variant`; `spritesheet` is the keyframes' PNG (VideoFiles.keyframesPng). */
const CONTENT_VARIANTS = { video: OutputFormat.OUTPUT_FORMAT_MP4, gif: OutputFormat.OUTPUT_FORMAT_GIF } as const;
const CONTENT_EXTENSIONS = { video: "mp4", gif: "gif" } as const;
type ContentVariant = keyof typeof CONTENT_VARIANTS | "spritesheet";

/** ListJobs fields that the query names otherwise. */
const LIST_FIELD_NAMES: FieldNames = { page_size: "limit", page_token: "page_token", states: "status" };

/** The error statuses each route may answer (all with the Error body), with what they mean. */
const ERROR_STATUSES: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT naming the field (or FAILED_PRECONDITION)",
  404: "NOT_FOUND: no such job",
  409: "ALREADY_EXISTS: the idempotency key was used for a different request",
  413: "The body is larger than the server's limit (named in the message)",
  415: "The body is not application/json",
  429: "RESOURCE_EXHAUSTED: the server's queue is full; retry later",
  500: "INTERNAL or DATA_LOSS",
  503: "UNAVAILABLE: the job service's stores cannot be reached (NATS or S3); retry",
};

interface Route {
  method: "GET" | "POST";
  /** Fastify's spelling: /v1/videos/:job_id. */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  schema: {
    body?: object;
    querystring?: object;
    params?: object;
    headers?: object;
    /** The success answers: a JSON schema, or a media type the route writes itself. */
    response: Record<number, object | { raw: string; description: string }>;
  };
  errors: readonly number[];
  names?: FieldNames;
  handler(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

/** Fastify's route spelling to OpenAPI's: /v1/videos/:job_id → /v1/videos/{job_id}. */
function openApiPath(url: string): string {
  return url.replace(/:([a-z_]+)/g, "{$1}");
}

/** The schema with shared references ("Video#") pointing into the OpenAPI components. */
function withComponentRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withComponentRefs);
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [
      k,
      k === "$ref" && typeof v === "string" ? `#/components/schemas/${v.replace(/#$/, "")}` : withComponentRefs(v),
    ]),
  );
}

function parametersOf(route: Route): object[] {
  const out: object[] = [];
  const add = (where: "path" | "query" | "header", schema: object | undefined) => {
    const s = schema as { properties?: Record<string, { description?: string }>; required?: string[] } | undefined;
    for (const [name, prop] of Object.entries(s?.properties ?? {})) {
      const { description, ...rest } = prop;
      out.push({
        name: where === "header" ? (HEADER_NAMES[name] ?? name) : name,
        in: where,
        required: where === "path" || (s?.required ?? []).includes(name),
        ...(description === undefined ? {} : { description }),
        schema: withComponentRefs(rest),
      });
    }
  };
  add("path", route.schema.params);
  add("query", route.schema.querystring);
  add("header", route.schema.headers);
  return out;
}

/** The OpenAPI 3.1 document of a route table. */
function openApiOf(routes: readonly Route[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    const responses: Record<string, object> = {};
    for (const [status, answer] of Object.entries(route.schema.response)) {
      responses[status] =
        "raw" in answer
          ? { description: answer.description, content: { [answer.raw as string]: {} } }
          : {
              description: Number(status) === 201 ? "Created" : "OK",
              content: { "application/json": { schema: withComponentRefs(answer) } },
            };
    }
    for (const status of route.errors) {
      responses[String(status)] = {
        description: ERROR_STATUSES[status] ?? "Error",
        content: { "application/json": { schema: withComponentRefs(ref("Error")) } },
      };
    }
    const parameters = parametersOf(route);
    const path = openApiPath(route.url);
    paths[path] ??= {};
    (paths[path] as Record<string, object>)[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(route.schema.body === undefined
        ? {}
        : {
            requestBody: {
              required: route.method === "POST" && route.operationId === "createVideo",
              content: { "application/json": { schema: withComponentRefs(route.schema.body) } },
            },
          }),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "longshot HTTP API",
      version: "v1",
      description:
        "Text-to-video jobs over HTTP and JSON, shaped after OpenAI's /v1/videos; the same job service as the gRPC " +
        "longshot.v1.VideoService. Errors: {error: {code, message, field}} with code a gRPC status name.",
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(sharedSchemas).map(([k, v]) => [k, withComponentRefs(v)])),
    },
  };
}

/** The routes of the API over `o`. */
/** The open event streams: each one's abort, and when it has ended. */
type EventStreams = Map<AbortController, Promise<void>>;

function routesOf(o: HttpApiOptions, streams: EventStreams): Route[] {
  // Nothing of `o` is read before a handler runs: openApiDocument() builds the table without options.
  const present = (job: Parameters<typeof videoOf>[0]) => videoOf(job, o.packs);
  const jobIdOf = (request: FastifyRequest) => (request.params as { job_id: string }).job_id;

  return [
    {
      method: "POST",
      url: "/v1/videos",
      operationId: "createVideo",
      summary: "Create a video job (gRPC Generate)",
      description:
        "Checks the request against its pack and queues the job; the video is made asynchronously. 201 with the " +
        "new job, or 200 with the job an earlier request with the same idempotency key created.",
      schema: {
        body: createVideoBody,
        headers: createVideoHeaders,
        response: { 200: ref("Video"), 201: ref("Video") },
      },
      errors: [400, 409, 413, 415, 429, 500, 503],
      async handler(request, reply) {
        const header = (request.headers as { "idempotency-key"?: string })["idempotency-key"];
        const generate = generateRequestOf(request.body as CreateVideoBody, header);
        const parent = propagation.extract(context.active(), request.headers);
        const { job, deduplicated } = await generateInSpan(o.jobs, generate, parent, "POST /v1/videos", {
          "http.request.method": "POST",
          "http.route": "/v1/videos",
        });
        if (job === undefined) throw new LongshotError("Generate returned no job", { code: "INTERNAL" });
        reply.code(deduplicated ? 200 : 201).header("location", `/v1/videos/${job.id}`);
        return present(job);
      },
    },
    {
      method: "GET",
      url: "/v1/videos",
      operationId: "listVideos",
      summary: "List jobs, newest first (gRPC ListJobs)",
      schema: { querystring: listVideosQuery, response: { 200: ref("VideoList") } },
      errors: [400, 500, 503],
      names: LIST_FIELD_NAMES,
      async handler(request) {
        const q = request.query as { limit?: number; page_token?: string; status?: string[] };
        const list: ListJobsRequest = ListJobsRequestMessage.create({
          pageSize: q.limit ?? 0,
          pageToken: q.page_token ?? "",
          states: jobStatesOf(q.status),
        });
        checkListJobs(list);
        const page = await o.jobs.listJobs(list);
        return {
          object: "list",
          data: page.jobs.map(present),
          first_id: page.jobs[0]?.id ?? null,
          last_id: page.jobs.at(-1)?.id ?? null,
          has_more: page.nextPageToken !== "",
          next_page_token: page.nextPageToken,
        };
      },
    },
    {
      method: "GET",
      url: "/v1/videos/:job_id",
      operationId: "getVideo",
      summary: "A job's current state (gRPC GetJob)",
      schema: { params: jobIdParams, response: { 200: ref("Video") } },
      errors: [400, 404, 500, 503],
      async handler(request) {
        return present(await o.jobs.getJob(jobIdOf(request)));
      },
    },
    {
      method: "POST",
      url: "/v1/videos/:job_id/cancel",
      operationId: "cancelVideo",
      summary: "Cancel a queued or running job (gRPC CancelJob)",
      description: "Cancelling a job that has ended returns it unchanged. The body is optional.",
      schema: { params: jobIdParams, body: cancelVideoBody, response: { 200: ref("Video") } },
      errors: [400, 404, 413, 415, 500, 503],
      async handler(request) {
        const body = (request.body ?? {}) as { reason?: string };
        return present(await o.jobs.cancelJob(jobIdOf(request), body.reason ?? ""));
      },
    },
    {
      method: "GET",
      url: "/v1/videos/:job_id/content",
      operationId: "downloadVideoContent",
      summary: "Download a completed job's video, or its keyframes",
      description:
        "Streams the file from the store through the server (no redirect), with Content-Length and the file's " +
        'SHA-256 as ETag ("<hex>"). The presigned URLs in the video\'s artifacts (gateway) reach the store directly. ' +
        "variant=spritesheet: a PNG of the job's keyframes side by side at the video's size, decoded from the " +
        "keyframe latents by the pack's linear preview (latent.previewRgb); there as soon as the keyframe stage " +
        "has completed (404 before), whatever the job's status.",
      schema: {
        params: jobIdParams,
        querystring: contentQuery,
        response: {
          200: {
            raw: "video/mp4",
            description: "The MP4 (image/gif for variant=gif, image/png for variant=spritesheet)",
          },
        },
      },
      errors: [400, 404, 500, 503],
      async handler(request, reply) {
        const id = jobIdOf(request);
        const variant = (request.query as { variant: ContentVariant }).variant;
        const job = await o.jobs.getJob(id);
        if (variant === "spritesheet") {
          const png = await o.files.keyframesPng(job);
          reply
            .header("content-type", "image/png")
            .header("content-length", String(png.byteLength))
            .header("cache-control", "no-cache")
            .header("content-disposition", `inline; filename="${id}-keyframes.png"`);
          return reply.send(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
        }
        if (job.state !== JobState.JOB_STATE_SUCCEEDED) {
          const status = [...STATUSES].find(([, s]) => s === job.state)?.[0] ?? "not completed";
          throw new LongshotError(`job ${id} is ${status}: its video can be downloaded once it is completed`, {
            code: "FAILED_PRECONDITION",
          });
        }
        const artifact = job.artifacts.find((a) => a.format === CONTENT_VARIANTS[variant]);
        if (artifact === undefined) {
          throw new NotFoundError(`job ${id} made no ${CONTENT_EXTENSIONS[variant]} file (see its output_formats)`);
        }
        const key = o.files.keyOf(artifact.uri);
        const stat = await o.files.stat(key);
        const body = await o.files.open(key);
        reply
          .header("content-type", artifact.contentType || "application/octet-stream")
          .header("content-length", String(stat.bytes))
          .header("etag", `"${artifact.sha256}"`)
          .header("content-disposition", `inline; filename="${id}.${CONTENT_EXTENSIONS[variant]}"`);
        return reply.send(body);
      },
    },
    {
      method: "GET",
      url: "/v1/videos/:job_id/events",
      operationId: "streamVideoEvents",
      summary: "The job's events as server-sent events (gRPC WatchJob)",
      description:
        "Replays the job's stored events, then follows live ones, and ends after the terminal event (completed, " +
        "failed or cancelled). Each event's `id` is its sequence, its `event` the type and its `data` a JobEvent " +
        "(components.schemas.JobEvent). A client that reconnects with Last-Event-ID: N gets the events after N. " +
        "An error after the stream started comes as an `error` event with the Error body.",
      schema: {
        params: jobIdParams,
        headers: eventsHeaders,
        response: { 200: { raw: "text/event-stream", description: "The events, one per JobEvent" } },
      },
      errors: [400, 404, 500, 503],
      async handler(request, reply) {
        const id = jobIdOf(request);
        const last = (request.headers as { "last-event-id"?: string })["last-event-id"];
        const from = last === undefined ? 1n : BigInt(last) + 1n;
        await o.jobs.getJob(id); // an unknown or malformed id is a JSON error, before the stream starts
        reply.hijack();
        const res = reply.raw;
        const ac = new AbortController();
        streams.set(
          ac,
          new Promise<void>((resolve) => {
            res.once("finish", resolve);
            res.once("close", resolve);
          }),
        );
        res.on("close", () => ac.abort());
        res.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache, no-transform",
          "x-accel-buffering": "no",
        });
        const write = async (text: string) => {
          if (!res.write(text) && !ac.signal.aborted) await once(res, "drain", { signal: ac.signal });
        };
        const ping = setInterval(() => res.write(": keep-alive\n\n"), o.keepAliveMs ?? 15_000);
        try {
          res.write(": longshot job events\n\n");
          for await (const e of o.jobs.watchJob(id, from, ac.signal)) {
            const data = eventOf(e);
            if (data === undefined) continue;
            const idLine = data.sequence > 0 ? `id: ${data.sequence}\n` : "";
            await write(`${idLine}event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`);
          }
        } catch (err) {
          if (!ac.signal.aborted) {
            const { body } = httpErrorOf(err, { logger: o.logger, route: "GET /v1/videos/:job_id/events" });
            res.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
          }
        } finally {
          clearInterval(ping);
          streams.delete(ac);
          res.end();
        }
      },
    },
  ];
}

/** The OpenAPI document of the API (what GET /openapi.json serves). */
export function openApiDocument(): object {
  return openApiOf(routesOf(undefined as unknown as HttpApiOptions, new Map()));
}

export interface HttpApi {
  readonly app: FastifyInstance;
  /** Bound port (after listen). */
  readonly port: number;
  /**
   * Stops taking requests; requests in flight finish and event streams go on until timeoutMs, after which
   * the streams end (their clients resume elsewhere with Last-Event-ID) and connections are closed.
   */
  close(timeoutMs: number): Promise<{ forced: boolean }>;
}

/** The API as a fastify instance, not listening (tests call `inject`). */
export function buildHttpApi(o: HttpApiOptions): { app: FastifyInstance; streams: EventStreams } {
  const streams: EventStreams = new Map();
  const log = o.logger;
  const app = Fastify({
    bodyLimit: o.maxBodyBytes,
    ...(o.https === undefined ? {} : { https: o.https }),
    return503OnClosing: true,
    // Only the documented routes (a HEAD of the event stream would hold its connection for nothing).
    exposeHeadRoutes: false,
  }) as unknown as FastifyInstance;
  // JSON only (fastify would parse text/plain too); an empty JSON body is no body (POST …/cancel with a
  // Content-Type and nothing else); the rest is fastify's parser, with its protection against prototype poisoning.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") done(null, undefined);
    else parseJson(request, body as string, done);
  });

  // The body keeps its JSON types (no coercion: "5" is not 5, true is not 1); the query, path and headers are
  // text, so their numbers and lists are read from it.
  const ajvOptions = { useDefaults: true, removeAdditional: false, allowUnionTypes: true, allErrors: false } as const;
  const bodyAjv = new Ajv2020({ ...ajvOptions, coerceTypes: false });
  const textAjv = new Ajv2020({ ...ajvOptions, coerceTypes: "array" });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === "body" ? bodyAjv : textAjv).compile(schema));
  for (const [name, schema] of Object.entries(sharedSchemas)) app.addSchema({ $id: name, ...schema });

  const routes = routesOf(o, streams);
  const namesOf = new Map(routes.map((r) => [`${r.method} ${r.url}`, r.names]));
  app.setErrorHandler((err: unknown, request, reply) => {
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const names = namesOf.get(route);
    const e = err as { validation?: SchemaError[]; validationContext?: string; code?: string; statusCode?: number };
    let error: unknown = err;
    if (Array.isArray(e.validation) && e.validation.length > 0) {
      error = schemaValidationError(e.validation, e.validationContext ?? "body", HEADER_NAMES);
    } else if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      error = new HttpRequestError(
        413,
        "body",
        `is larger than this server's limit of ${o.maxBodyBytes} bytes${o.maxBodySetting === undefined ? "" : ` (${o.maxBodySetting})`}`,
      );
    } else if (e.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
      error = new HttpRequestError(400, "body", "is not a JSON document");
    } else if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      error = new HttpRequestError(
        415,
        "Content-Type",
        `must be application/json, got ${request.headers["content-type"]}`,
      );
    } else if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      error = new HttpRequestError(e.statusCode, "request", (err as Error).message);
    }
    const { status, body } = httpErrorOf(error, { logger: log, names, route });
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = httpErrorOf(
      new NotFoundError(`no route ${request.method} ${request.url.split("?")[0]} (see GET /openapi.json)`),
    );
    return reply.code(status).send(body);
  });

  const document = openApiOf(routes);
  app.get("/openapi.json", async () => document);
  for (const route of routes) {
    const response: Record<string, object> = {};
    for (const [status, answer] of Object.entries(route.schema.response))
      if (!("raw" in answer)) response[status] = answer;
    for (const status of route.errors) response[String(status)] = ref("Error");
    const { response: _, ...parts } = route.schema;
    app.route({ method: route.method, url: route.url, schema: { ...parts, response }, handler: route.handler });
  }
  registerWebPage(app);
  return { app, streams };
}

/** Builds the API and listens on host:port (0: a free port). */
export async function startHttpApi(o: HttpApiOptions, host: string, port: number): Promise<HttpApi> {
  const { app, streams } = buildHttpApi(o);
  await app.listen({ host, port });
  const address = app.server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  let closing: Promise<{ forced: boolean }> | undefined;
  return {
    app,
    port: bound,
    close(timeoutMs: number) {
      closing ??= (async () => {
        let forced = false;
        const timer = setTimeout(async () => {
          // The streams end cleanly (their last bytes sent), then whatever connection is left is closed.
          forced = streams.size > 0;
          const ending = [...streams.values()];
          for (const ac of streams.keys()) ac.abort();
          await Promise.race([Promise.all(ending), new Promise((r) => setTimeout(r, 1000))]);
          app.server.closeAllConnections();
        }, timeoutMs);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
        return { forced };
      })();
      return closing;
    },
  };
}
