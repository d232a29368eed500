import { fileURLToPath } from "node:url";
import { describeStageProcess } from "@longshot/stage/testing";

describeStageProcess({
  stage: "decoder",
  grpcService: "longshot.v1.DecoderService",
  main: fileURLToPath(new URL("./main.js", import.meta.url)),
  pack: fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url)),
});
