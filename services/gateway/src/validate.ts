/**
 * Validation of Generate requests against the model packs the gateway serves: a pure function, so
 * every rule is unit-tested without a server. A bad field is answered INVALID_ARGUMENT naming it
 * (proto field names: "prompt", "keyframe_steps", ...); a valid request comes back with every default
 * filled in from its pack and the seed fixed, which is what the job records and the stages run.
 */
import { randomInt } from "node:crypto";
import { ConfigError, InvalidArgumentError } from "@longshot/core";
import { strengthBeginIndex } from "@longshot/engine";
import type { DefaultsSpec } from "@longshot/pack";
import { GenerateRequest, Mode, modeFromName, OutputFormat, Sampler, samplerFromName } from "@longshot/proto";

/** What the gateway needs of a pack manifest (a PackManifest from @longshot/pack satisfies it). */
export interface CatalogPack {
  readonly name: string;
  readonly version: string;
  readonly video: { readonly frames: readonly number[]; readonly defaultFrames: number };
  readonly defaults: DefaultsSpec;
}

export interface GenerateLimits {
  /** Longest prompt and negative prompt, in characters (code points). */
  readonly maxPromptChars: number;
  /** Most denoising steps per stage. */
  readonly maxSteps: number;
  /** Largest guidance scale. */
  readonly maxGuidance: number;
  /** Largest encoded request. */
  readonly maxRequestBytes: number;
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

interface CatalogEntry {
  readonly pack: CatalogPack;
  readonly sampler: Sampler;
  readonly mode: Mode;
}

/** The packs a gateway serves, by name; the first is the default. */
export class PackCatalog {
  readonly defaultPack: string;
  readonly #entries = new Map<string, CatalogEntry>();

  /** Throws ConfigError for no packs, duplicate names, or defaults the gateway cannot honour. */
  constructor(packs: readonly CatalogPack[], limits: GenerateLimits) {
    const first = packs[0];
    if (!first) throw new ConfigError("the gateway needs at least one model pack");
    for (const pack of packs) {
      const id = `${pack.name}@${pack.version}`;
      if (this.#entries.has(pack.name)) throw new ConfigError(`model pack ${pack.name} is configured twice`);
      const sampler = samplerFromName(pack.defaults.sampler);
      if (sampler === undefined)
        throw new ConfigError(`model pack ${id}: default sampler "${pack.defaults.sampler}" is not supported`);
      const mode = modeFromName(pack.defaults.mode);
      if (mode === undefined)
        throw new ConfigError(`model pack ${id}: default mode "${pack.defaults.mode}" is not supported`);
      for (const stage of ["keyframe", "interpolation"] as const) {
        const { steps, guidance } = pack.defaults[stage];
        if (steps > limits.maxSteps) {
          throw new ConfigError(
            `model pack ${id}: default ${stage} steps ${steps} exceed the gateway's maxSteps ${limits.maxSteps}`,
          );
        }
        if (guidance > limits.maxGuidance) {
          throw new ConfigError(
            `model pack ${id}: default ${stage} guidance ${guidance} exceeds the gateway's maxGuidance ${limits.maxGuidance}`,
          );
        }
      }
      this.#entries.set(pack.name, { pack, sampler, mode });
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

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
const CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]+$/;

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function checkText(value: string, field: string, limits: GenerateLimits): void {
  const chars = [...value].length;
  if (chars > limits.maxPromptChars)
    fail(field, `is ${chars} characters long, at most ${limits.maxPromptChars} are allowed`);
  if (CONTROL_RE.test(value)) fail(field, "must not contain control characters");
}

function checkSteps(value: number, field: string, limits: GenerateLimits): void {
  if (!Number.isInteger(value) || value < 1 || value > limits.maxSteps) {
    fail(field, `must be from 1 to ${limits.maxSteps}, got ${value}`);
  }
}

function checkGuidance(value: number, field: string, limits: GenerateLimits): void {
  if (!Number.isFinite(value) || value < 1 || value > limits.maxGuidance) {
    fail(field, `must be a number from 1 to ${limits.maxGuidance} (1 = no classifier-free guidance), got ${value}`);
  }
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

  if (request.prompt.trim() === "") fail("prompt", "must not be empty");
  checkText(request.prompt, "prompt", limits);
  if (request.negativePrompt !== undefined) checkText(request.negativePrompt, "negative_prompt", limits);

  const packName = request.pack === "" ? catalog.defaultPack : request.pack;
  const entry = catalog.get(packName);
  if (!entry)
    fail("pack", `unknown pack ${JSON.stringify(request.pack)}; this gateway serves ${catalog.names.join(", ")}`);
  const { pack } = entry;

  const frames = request.frames ?? pack.video.defaultFrames;
  if (!pack.video.frames.includes(frames)) {
    fail(
      "frames",
      `must be one of ${[...pack.video.frames].sort((a, b) => a - b).join(", ")} for pack ${pack.name}, got ${frames}`,
    );
  }
  const keyframeSteps = request.keyframeSteps ?? pack.defaults.keyframe.steps;
  checkSteps(keyframeSteps, "keyframe_steps", limits);
  const interpolationSteps = request.interpolationSteps ?? pack.defaults.interpolation.steps;
  checkSteps(interpolationSteps, "interpolation_steps", limits);
  const keyframeGuidance = request.keyframeGuidance ?? pack.defaults.keyframe.guidance;
  checkGuidance(keyframeGuidance, "keyframe_guidance", limits);
  const interpolationGuidance = request.interpolationGuidance ?? pack.defaults.interpolation.guidance;
  checkGuidance(interpolationGuidance, "interpolation_guidance", limits);
  const interpolationStrength = request.interpolationStrength ?? pack.defaults.interpolation.strength ?? 1;
  strengthBeginIndex(interpolationSteps, interpolationStrength, "interpolation_strength");

  if (request.sampler !== Sampler.SAMPLER_UNSPECIFIED && !knownEnum(request.sampler, Sampler)) {
    fail("sampler", `must be one of ${enumNames(Sampler)}, got ${request.sampler}`);
  }
  const sampler = request.sampler === Sampler.SAMPLER_UNSPECIFIED ? entry.sampler : request.sampler;
  if (request.mode !== Mode.MODE_UNSPECIFIED && !knownEnum(request.mode, Mode)) {
    fail("mode", `must be one of ${enumNames(Mode)}, got ${request.mode}`);
  }
  const mode = request.mode === Mode.MODE_UNSPECIFIED ? entry.mode : request.mode;

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

  const seed = request.seed ?? (options.chooseSeed ?? (() => BigInt(randomInt(0, 2 ** 32))))();
  return {
    pack,
    request: {
      prompt: request.prompt,
      negativePrompt: request.negativePrompt,
      seed,
      frames,
      keyframeSteps,
      interpolationSteps,
      keyframeGuidance,
      interpolationGuidance,
      interpolationStrength,
      sampler,
      mode,
      pack: pack.name,
      idempotencyKey: key,
      outputFormats,
    },
  };
}
