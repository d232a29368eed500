export {
  type DecodedVideo,
  type DecodeOptions,
  decodeVideo,
  inspectVideo,
  parseFfmpegInfo,
  type VideoInfo,
} from "./decode.js";
export {
  checkVideo,
  DEFAULT_SCALE,
  digestFile,
  type EncodeOptions,
  encodeGif,
  encodeMp4,
  frameFileName,
  type GifOptions,
  type Mp4Options,
  type OutputFile,
  type RgbVideo,
  type VideoOutputOptions,
  type VideoOutputs,
  writePngFrames,
  writeVideoOutputs,
} from "./encode.js";
export { FfmpegError, FfmpegNotFoundError } from "./errors.js";
export {
  type FfmpegBinary,
  type FfmpegSource,
  type FindFfmpegOptions,
  findFfmpeg,
  type RunFfmpegOptions,
  runFfmpeg,
} from "./ffmpeg.js";
export {
  type KeyframePreviewOptions,
  keyframePreviewImage,
  keyframePreviewPng,
  NoPreviewMapError,
  type PreviewLatentSpec,
  type PreviewRgb,
} from "./keyframe-preview.js";
export { checkImage, decodePng, encodePng, type RgbImage, readPng } from "./png.js";
