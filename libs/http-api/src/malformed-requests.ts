/**
 * `@longshot/http-api/cases`: the table of malformed HTTP requests every server of this API must answer with a
 * 400 (413, 415) naming the field, and create no job for. The gateway's integration test and longshot serve's run
 * it against their own servers, so the two answer a bad request the same way.
 */

export interface MalformedRequest {
  readonly what: string;
  readonly method: "GET" | "POST";
  /** The path and query; `{done}` is replaced by the id of a completed job. */
  readonly route: string;
  /** A JSON body (sent as application/json). */
  readonly body?: unknown;
  /** A body sent as it is (application/json unless headers say otherwise). */
  readonly raw?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly status: number;
  /** error.field of the answer; the message starts with `${field}: ` for a create. */
  readonly field: string;
}

export interface MalformedRequestOptions {
  /** The server's largest request body (a prompt this long is too large). */
  readonly maxBodyBytes: number;
  /** The server's most denoising steps per stage (one more is out of range). */
  readonly maxSteps: number;
  /** A frame count the server's default pack has not. */
  readonly framesNotInPack: number;
}

/** The malformed requests, for a server with these limits. */
export function malformedRequests(o: MalformedRequestOptions): MalformedRequest[] {
  const create = (what: string, request: Partial<MalformedRequest>, status: number, field: string) =>
    ({ what, method: "POST", route: "/v1/videos", status, field, ...request }) as MalformedRequest;
  const get = (route: string, status: number, field: string, headers: Record<string, string> = {}) =>
    ({ what: `GET ${route}`, method: "GET", route, headers, status, field }) as MalformedRequest;
  return [
    create("missing prompt", { body: { frames: 17 } }, 400, "prompt"),
    create("empty prompt", { body: { prompt: " " } }, 400, "prompt"),
    create("prompt of the wrong type", { body: { prompt: 5 } }, 400, "prompt"),
    create("steps out of range (0)", { body: { prompt: "x", keyframe_steps: 0 } }, 400, "keyframe_steps"),
    create(
      "steps out of range (max)",
      { body: { prompt: "x", interpolation_steps: o.maxSteps + 1 } },
      400,
      "interpolation_steps",
    ),
    create("negative steps", { body: { prompt: "x", keyframe_steps: -1 } }, 400, "keyframe_steps"),
    create("steps as a string", { body: { prompt: "x", keyframe_steps: "5" } }, 400, "keyframe_steps"),
    create("steps not an integer", { body: { prompt: "x", keyframe_steps: 2.5 } }, 400, "keyframe_steps"),
    create("guidance as a boolean", { body: { prompt: "x", keyframe_guidance: true } }, 400, "keyframe_guidance"),
    create("frames the pack has not", { body: { prompt: "x", frames: o.framesNotInPack } }, 400, "frames"),
    create("negative seed", { body: { prompt: "x", seed: -1 } }, 400, "seed"),
    create("seed beyond uint64", { body: { prompt: "x", seed: "99999999999999999999" } }, 400, "seed"),
    create("seed of letters", { body: { prompt: "x", seed: "abc" } }, 400, "seed"),
    create("unknown sampler", { body: { prompt: "x", sampler: "fancy" } }, 400, "sampler"),
    create(
      "unknown output format",
      { body: { prompt: "x", output_formats: ["mp4", "avi"] } },
      400,
      "output_formats[1]",
    ),
    create("unknown field", { body: { prompt: "x", model: "sora-2" } }, 400, "model"),
    create("unknown pack", { body: { prompt: "x", pack: "shapes-maxi" } }, 400, "pack"),
    create("an array body", { body: [{ prompt: "x" }] }, 400, "body"),
    create("no body", { raw: "" }, 400, "body"),
    create("not JSON", { raw: "{prompt: x}" }, 400, "body"),
    create("too large", { body: { prompt: "x".repeat(o.maxBodyBytes) } }, 413, "body"),
    create("not application/json", { raw: "prompt=x", headers: { "content-type": "text/plain" } }, 415, "Content-Type"),
    create(
      "Idempotency-Key header and body key differ",
      { body: { prompt: "x", idempotency_key: "a" }, headers: { "Idempotency-Key": "b" } },
      400,
      "idempotency_key",
    ),
    get("/v1/videos/no%20such%20id", 400, "job_id"),
    get("/v1/videos?limit=5000", 400, "limit"),
    get("/v1/videos?limit=ten", 400, "limit"),
    get("/v1/videos?status=done", 400, "status[0]"),
    get("/v1/videos?page_token=nonsense", 400, "page_token"),
    get("/v1/videos?order=asc", 400, "order"),
    get("/v1/videos/{done}/content?variant=thumbnail", 400, "variant"),
    get("/v1/videos/{done}/events", 400, "Last-Event-ID", { "Last-Event-ID": "abc" }),
  ];
}
