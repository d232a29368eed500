/**
 * Writes docs/openapi.json, the OpenAPI document of the HTTP API (gateway and longshot serve), from its route table:
 * `node libs/http-api/dist/write-openapi.js && npx biome format --write docs/openapi.json`.
 * http-api.test.ts fails when the committed file and what the API serves differ.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "./http-api.js";

const OPENAPI_FILE = fileURLToPath(new URL("../../../docs/openapi.json", import.meta.url));

writeFileSync(OPENAPI_FILE, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
