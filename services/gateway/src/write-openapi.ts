/**
 * Writes docs/openapi.json, the OpenAPI document of the gateway's HTTP API, from its route table:
 * `node services/gateway/dist/write-openapi.js && npx biome format --write docs/openapi.json`.
 * http-api.test.ts fails when the committed file and what the gateway serves differ.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "./http-api.js";

const OPENAPI_FILE = fileURLToPath(new URL("../../../docs/openapi.json", import.meta.url));

writeFileSync(OPENAPI_FILE, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
