/**
 * Validation of Generate requests against the model packs a job service serves (the gateway's and longshot serve's
 * embedded one run this same function): a pure function, so
 * every rule is unit-tested without a server. A bad field is answered INVALID_ARGUMENT naming it
 * (proto field names: "prompt", "keyframe_steps", ...); a valid request comes back with every default
 * filled in from its pack and the seed fixed, which is what the job records and the stages run.
 *
 * The fields the embedded engine takes too go through the engine's `resolveRequest`, the same checks and
 * defaults as `longshot generate`, under this gateway's limits; what is the wire's own (the enums, output
 * formats, idempotency key, request size) is checked here.
 */
import { ConfigError, InvalidArgumentError } from "@longshot/core";
import {
  INTERPOLATION_MODES,
  type InterpolationMode,
  type RequestFieldNames,
  type RequestLimits,
  type RequestPack,
  resolveRequest,
  SCHEDULER_NAMES,
  type SchedulerName,
} from "@longshot/engine/light";
import type { DefaultsSpec } from "@longshot/pack";
import { GenerateRequest, Mode, modeFromName, OutputFormat, Sampler, samplerFromName } from "@longshot/proto";

/** What validation needs of a pack manifest (a PackManifest from @longshot/pack satisfies it). */
export interface CatalogPack {
  readonly name: string;
  readonly version: string;
  readonly video: { readonly frames: readonly number[]; readonly defaultFrames: number };
  readonly defaults: DefaultsSpec;
}

export interface GenerateLimits extends RequestLimits {
  /** Largest encoded request. */
  readonly maxRequestBytes: number;
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/** The proto names of the fields `resolveRequest` checks. */
const PROTO_FIELDS: RequestFieldNames = {
  prompt: "prompt",
  negativePrompt: "negative_prompt",
  seed: "seed",
  frames: "frames",
  mode: "mode",
  sampler: "sampler",
  keyframeSteps: "keyframe_steps",
  keyframeGuidance: "keyframe_guidance",
  interpolationSteps: "interpolation_steps",
  interpolationGuidance: "interpolation_guidance",
  interpolationStrength: "interpolation_strength",
};

/** The engine's name of a Sampler; undefined for UNSPECIFIED and unknown numbers. */
export function schedulerNameOf(sampler: Sampler | undefined): SchedulerName | undefined {
  return sampler === undefined ? undefined : SCHEDULER_NAMES.find((name) => samplerFromName(name) === sampler);
}

/** The engine's name of a Mode; undefined for UNSPECIFIED and unknown numbers. */
export function interpolationModeOf(mode: Mode | undefined): InterpolationMode | undefined {
  return mode === undefined ? undefined : INTERPOLATION_MODES.find((name) => modeFromName(name) === mode);
}

interface CatalogEntry {
  readonly pack: CatalogPack;
  /** The pack with its default sampler and mode spelled as the engine names them ("euler_ancestral" → "euler-a"). */
  readonly requestPack: RequestPack;
}

/** The packs a job service serves, by name; the first is the default. */
export class PackCatalog {
  readonly defaultPack: string;
  readonly #entries = new Map<string, CatalogEntry>();

  /** Throws ConfigError for no packs, duplicate names, or defaults the gateway cannot honour. */
  constructor(packs: readonly CatalogPack[], limits: GenerateLimits) {
    const first = packs[0];
    if (!first) throw new ConfigError("a job service needs at least one model pack");
    for (const pack of packs) {
      const id = `${pack.name}@${pack.version}`;
      if (this.#entries.has(pack.name)) throw new ConfigError(`model pack ${pack.name} is configured twice`);
      const sampler = schedulerNameOf(samplerFromName(pack.defaults.sampler));
      if (sampler === undefined)
        throw new ConfigError(`model pack ${id}: default sampler "${pack.defaults.sampler}" is not supported`);
      const mode = interpolationModeOf(modeFromName(pack.defaults.mode));
      if (mode === undefined)
        throw new ConfigError(`model pack ${id}: default mode "${pack.defaults.mode}" is not supported`);
      for (const stage of ["keyframe", "interpolation"] as const) {
        const { steps, guidance } = pack.defaults[stage];
        if (steps > limits.maxSteps) {
          throw new ConfigError(
            `model pack ${id}: default ${stage} steps ${steps} exceed this server's maxSteps ${limits.maxSteps}`,
          );
        }
        if (guidance > limits.maxGuidance) {
          throw new ConfigError(
            `model pack ${id}: default ${stage} guidance ${guidance} exceeds this server's maxGuidance ${limits.maxGuidance}`,
          );
        }
      }
      this.#entries.set(pack.name, { pack, requestPack: { ...pack, defaults: { ...pack.defaults, sampler, mode } } });
    }
    this.defaultPack = first.name;
  }

  get names(): string[] {
    return [...this.#entries.keys()];
  }

  get(name: string): CatalogEntry | undefined {
    return this.#entries.get(name);
  }
}

export interface ValidatedGenerate {
  readonly pack: CatalogPack;
  /** The request with every default filled in and the seed fixed. */
  readonly request: GenerateRequest;
}

export interface ValidateOptions {
  /** Picks the seed of a request without one; default: uniform in [0, 2^32). */
  chooseSeed?: () => bigint;
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]+$/;

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function knownEnum(value: number, names: Record<number, string>): boolean {
  return value > 0 && typeof names[value] === "string";
}

function enumNames(names: Record<string, string | number>): string {
  return Object.entries(names)
    .filter(([, v]) => typeof v === "number" && v > 0)
    .map(([k]) => k)
    .join(", ");
}

/**
 * Checks a Generate request against its pack and the gateway's limits. Throws InvalidArgumentError
 * naming the first bad field; returns the pack and the request with all defaults resolved.
 */
export function validateGenerateRequest(
  request: GenerateRequest,
  catalog: PackCatalog,
  limits: GenerateLimits,
  options: ValidateOptions = {},
): ValidatedGenerate {
  const size = GenerateRequest.encode(request).finish().byteLength;
  if (size > limits.maxRequestBytes)
    fail("request", `is ${size} bytes encoded, at most ${limits.maxRequestBytes} are allowed`);

  const packName = request.pack === "" ? catalog.defaultPack : request.pack;
  const entry = catalog.get(packName);
  if (!entry)
    fail("pack", `unknown pack ${JSON.stringify(request.pack)}; this server serves ${catalog.names.join(", ")}`);
  const { pack } = entry;

  // The enums as the engine names them; unset (UNSPECIFIED) is the pack's default.
  let sampler: SchedulerName | undefined;
  if (request.sampler !== Sampler.SAMPLER_UNSPECIFIED) {
    sampler = schedulerNameOf(request.sampler);
    if (sampler === undefined) fail("sampler", `must be one of ${enumNames(Sampler)}, got ${request.sampler}`);
  }
  let mode: InterpolationMode | undefined;
  if (request.mode !== Mode.MODE_UNSPECIFIED) {
    mode = interpolationModeOf(request.mode);
    if (mode === undefined) fail("mode", `must be one of ${enumNames(Mode)}, got ${request.mode}`);
  }
  const resolved = resolveRequest(entry.requestPack, { ...request, sampler, mode }, limits, {
    fields: PROTO_FIELDS,
    rejectControlCharacters: true,
    chooseSeed: options.chooseSeed,
  });

  const outputFormats: OutputFormat[] = [];
  request.outputFormats.forEach((format, i) => {
    if (!knownEnum(format, OutputFormat))
      fail(`output_formats[${i}]`, `must be one of ${enumNames(OutputFormat)}, got ${format}`);
    if (!outputFormats.includes(format)) outputFormats.push(format);
  });
  if (outputFormats.length === 0) outputFormats.push(OutputFormat.OUTPUT_FORMAT_MP4);

  const key = request.idempotencyKey;
  if (key !== "") {
    if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
      fail("idempotency_key", `is ${key.length} characters, at most ${MAX_IDEMPOTENCY_KEY_LENGTH}`);
    if (!IDEMPOTENCY_KEY_RE.test(key))
      fail("idempotency_key", "may only contain printable ASCII characters without spaces");
  }

  return {
    pack,
    request: {
      prompt: resolved.prompt,
      // As the client sent it: unset stays unset.
      negativePrompt: request.negativePrompt,
      seed: resolved.seed,
      frames: resolved.frames,
      keyframeSteps: resolved.keyframeSteps,
      interpolationSteps: resolved.interpolationSteps,
      keyframeGuidance: resolved.keyframeGuidance,
      interpolationGuidance: resolved.interpolationGuidance,
      interpolationStrength: resolved.interpolationStrength,
      // Every engine name has its enum (each name is one of samplerFromName's / modeFromName's spellings).
      sampler: samplerFromName(resolved.sampler) ?? Sampler.UNRECOGNIZED,
      mode: modeFromName(resolved.mode) ?? Mode.UNRECOGNIZED,
      pack: pack.name,
      idempotencyKey: key,
      outputFormats,
    },
  };
}

/** The fields two Generate requests differ in (proto field names), for ALREADY_EXISTS on a reused idempotency key. */
export function differingFields(a: GenerateRequest, b: GenerateRequest): string[] {
  const ja = GenerateRequest.toJSON(a) as Record<string, unknown>;
  const jb = GenerateRequest.toJSON(b) as Record<string, unknown>;
  const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const keys = new Set([...Object.keys(ja), ...Object.keys(jb)]);
  return [...keys]
    .filter((k) => JSON.stringify(ja[k]) !== JSON.stringify(jb[k]))
    .map(snake)
    .sort();
}
