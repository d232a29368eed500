/**
 * The web page of the HTTP API, served by the same fastify instance (the gateway's, and `longshot serve`'s):
 *
 *   GET /                         public/index.html (with a Content-Security-Policy: everything from this origin)
 *   GET /app.js, /style.css, …    the other files of public/, as they are (no build step)
 *   GET /vendor/preact.mjs        preact, preact/hooks and htm: the ES modules of their npm packages, from
 *   GET /vendor/hooks.mjs         node_modules, named by index.html's import map (no CDN: a gateway that
 *   GET /vendor/htm.mjs           reaches nothing outside serves the whole page)
 *
 * The page talks to the API by relative URLs (v1/videos…), so it works behind a proxy under a path prefix too.
 * Only these files are routed: every other path keeps the API's own 404 (its JSON error body).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** The folder of the page's static files (index.html, app.js, style.css). */
export const WEB_ROOT: string = fileURLToPath(new URL("../public/", import.meta.url));

/** The npm modules the page imports, by the URL it imports them from (index.html's import map names these). */
export const VENDOR_MODULES: Readonly<Record<string, string>> = {
  "vendor/preact.mjs": "preact",
  "vendor/hooks.mjs": "preact/hooks",
  "vendor/htm.mjs": "htm",
};

/** The page's Content-Security-Policy: scripts, styles, pictures, videos and requests from this origin only. */
export function contentSecurityPolicy(indexHtml: string): string {
  // The one inline script is the import map; it is allowed by its hash, nothing else inline is.
  const hashes = [...indexHtml.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash("sha256")
        .update(m[1] as string)
        .digest("base64")}'`,
  );
  return [
    "default-src 'self'",
    `script-src 'self' ${hashes.join(" ")}`.trim(),
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Registers the page's routes on `app` (an encapsulated plugin: the app's own routes and handlers are untouched). */
export function registerWebPage(app: FastifyInstance): void {
  const policy = contentSecurityPolicy(readFileSync(path.join(WEB_ROOT, "index.html"), "utf8"));
  app.register(async (page) => {
    await page.register(fastifyStatic, {
      root: WEB_ROOT,
      prefix: "/",
      // One route per file that exists now (and / for index.html), not a catch-all: other paths stay the API's.
      wildcard: false,
      index: "index.html",
      // The files change with the package, not per request: the browser asks again each time (ETag answers 304).
      cacheControl: false,
      setHeaders(reply) {
        reply.header("cache-control", "no-cache");
        reply.header("x-content-type-options", "nosniff");
        reply.header("content-security-policy", policy);
        reply.header("referrer-policy", "no-referrer");
      },
    });
    for (const [url, specifier] of Object.entries(VENDOR_MODULES)) {
      const file = fileURLToPath(import.meta.resolve(specifier));
      page.get(`/${url}`, (_request, reply) => reply.sendFile(path.basename(file), path.dirname(file)));
    }
  });
}
