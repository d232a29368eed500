/**
 * The page in headless Chromium against `longshot serve` (the embedded engine, the bundled pack; no NATS or
 * S3): the scenario of page-scenario.ts. Needs chromium (./setup.sh installs Debian's as root) and the compiled
 * packages.
 */
import { after, before, describe, it } from "node:test";
import type { Browser } from "puppeteer-core";
import { launchBrowser } from "./browser.js";
import { BUNDLED_PACK } from "./local-cluster.js";
import { type LocalServe, startLocalServe } from "./local-serve.js";
import { runPageScenario } from "./page-scenario.js";

describe("the page on longshot serve (headless Chromium)", { timeout: 600_000 }, () => {
  let serve: LocalServe;
  let browser: Browser;

  before(async () => {
    serve = await startLocalServe(BUNDLED_PACK);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it("makes videos: a 400 at its field, progress, keyframes, video, cancel, gallery, re-run", async (t) => {
    await runPageScenario(browser, serve.url, BUNDLED_PACK, (m) => t.diagnostic(m));
  });
});
