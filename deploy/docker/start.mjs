#!/usr/bin/env node
/**
 * Entry point of the longshot images: runs the service named by $SERVICE (gateway, keyframe,
 * interpolation or decoder), that is services/<SERVICE>/dist/main.js, in this same process, so the
 * service gets SIGTERM straight from tini and drains. Flags after the script go to the service:
 *
 *   docker run --rm -e SERVICE=keyframe longshot:cpu node deploy/docker/start.mjs --help
 */
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

export const SERVICES = ["gateway", "keyframe", "interpolation", "decoder"];

const name = process.env.SERVICE;
if (name === undefined || !SERVICES.includes(name)) {
  const got = name === undefined || name === "" ? "it is not set" : `got ${JSON.stringify(name)}`;
  process.stderr.write(`start.mjs: SERVICE must be one of ${SERVICES.join(", ")}; ${got}\n`);
  process.exit(2);
}

const main = fileURLToPath(new URL(`../../services/${name}/dist/main.js`, import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(`start.mjs: ${main} does not exist; this image was built without the ${name} service\n`);
  process.exit(2);
}
await import(pathToFileURL(main).href);
