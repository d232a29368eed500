/**
 * registerWebPage on a bare fastify app (inject, no listener): the page, its files and its three vendor modules
 * are served with their types and the Content-Security-Policy; the import map names exactly the served modules
 * and its hash is the one the policy allows; every other path is left to the app's own 404.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { registerWebPage, VENDOR_MODULES, WEB_ROOT } from "./web-page.js";

function app() {
  const a = Fastify();
  a.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: "NOT_FOUND", message: `no route ${request.url}`, field: null } }),
  );
  a.get("/v1/videos", async () => ({ object: "list", data: [] }));
  registerWebPage(a);
  return a;
}

const indexHtml = readFileSync(path.join(WEB_ROOT, "index.html"), "utf8");

describe("registerWebPage", () => {
  it("serves index.html at / with a Content-Security-Policy that allows its import map by hash", async () => {
    const a = app();
    const res = await a.inject({ method: "GET", url: "/" });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^text\/html/);
    assert.equal(res.body, indexHtml);
    const csp = res.headers["content-security-policy"] as string;
    assert.match(csp, /default-src 'self'/);
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(res.body)?.[1];
    assert.ok(map, "index.html has an import map");
    const hash = createHash("sha256").update(map).digest("base64");
    assert.ok(csp.includes(`'sha256-${hash}'`), csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers["x-content-type-options"], "nosniff");
    await a.close();
  });

  it("serves the app's files with their types", async () => {
    const a = app();
    for (const [url, type] of [
      ["/app.js", /^(text|application)\/javascript/],
      ["/style.css", /^text\/css/],
      ["/index.html", /^text\/html/],
    ] as const) {
      const res = await a.inject({ method: "GET", url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.headers["content-type"] as string, type, url);
      assert.equal(res.body, readFileSync(path.join(WEB_ROOT, url.slice(1)), "utf8"), url);
    }
    await a.close();
  });

  it("serves exactly the modules the import map names, from their npm packages", async () => {
    const a = app();
    const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1] as string);
    const served = Object.fromEntries(Object.entries(VENDOR_MODULES).map(([url, spec]) => [spec, `./${url}`]));
    assert.deepEqual(map.imports, served);
    for (const [url, specifier] of Object.entries(VENDOR_MODULES)) {
      const res = await a.inject({ method: "GET", url: `/${url}` });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.headers["content-type"] as string, /^(text|application)\/javascript/, url);
      assert.equal(res.body, readFileSync(fileURLToPath(import.meta.resolve(specifier)), "utf8"), url);
    }
    await a.close();
  });

  it("imports in app.js only what the import map names", () => {
    const app = readFileSync(path.join(WEB_ROOT, "app.js"), "utf8");
    const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1] as string);
    const imported = [...app.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    assert.ok(imported.length >= 3);
    for (const specifier of imported)
      assert.ok((specifier as string) in map.imports, `${specifier} is in the import map`);
  });

  it("leaves every other path to the app: its routes and its 404", async () => {
    const a = app();
    const list = await a.inject({ method: "GET", url: "/v1/videos" });
    assert.deepEqual(list.json(), { object: "list", data: [] });
    for (const url of ["/nope", "/vendor/", "/vendor/preact.js", "/../package.json", "/vendor/../../package.json"]) {
      const res = await a.inject({ method: "GET", url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, "NOT_FOUND", url);
    }
    await a.close();
  });
});
