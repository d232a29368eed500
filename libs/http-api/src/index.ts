export { generateInSpan } from "./generate-span.js";
export {
  buildHttpApi,
  type FileStat,
  type HttpApi,
  type HttpApiOptions,
  openApiDocument,
  startHttpApi,
  type VideoFiles,
  type VideoJobs,
} from "./http-api.js";
export {
  type ErrorBody,
  GENERIC_INTERNAL_MESSAGE,
  HTTP_STATUS_OF_CODE,
  HttpRequestError,
  httpErrorOf,
} from "./http-errors.js";
export { eventOf, generateRequestOf, type PackVideo, videoOf } from "./http-present.js";
export { EnumNames, MODES, OUTPUT_FORMATS, SAMPLERS, STAGE_STATES, STAGES, STATUSES } from "./http-schemas.js";
export { plannedStages } from "./job-stages.js";
export { checkListJobs, MAX_PAGE_SIZE } from "./list-check.js";
export { keyframesSpritesheet } from "./spritesheet.js";
export {
  type CatalogPack,
  differingFields,
  type GenerateLimits,
  interpolationModeOf,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  PackCatalog,
  schedulerNameOf,
  type ValidatedGenerate,
  type ValidateOptions,
  validateGenerateRequest,
} from "./validate.js";
