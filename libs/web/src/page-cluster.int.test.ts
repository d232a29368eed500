/**
 * The page in headless Chromium against the local cluster's gateway (scripts/cluster: nats-server, an S3
 * server, gateway, keyframe, one interpolation replica and decoder, each its own process, the bundled pack):
 * the scenario of page-scenario.ts. Needs chromium (./setup.sh installs Debian's as root), nats-server and
 * the compiled packages.
 */
import { after, before, describe, it } from "node:test";
import type { Browser } from "puppeteer-core";
import { launchBrowser } from "./browser.js";
import { BUNDLED_PACK, type LocalCluster, startLocalCluster } from "./local-cluster.js";
import { runPageScenario } from "./page-scenario.js";

describe("the page on the local cluster's gateway (headless Chromium)", { timeout: 600_000 }, () => {
  let cluster: LocalCluster;
  let browser: Browser;

  before(async () => {
    cluster = await startLocalCluster({ pack: BUNDLED_PACK });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await cluster?.down();
  });

  it("makes videos: a 400 at its field, progress, keyframes, video, cancel, gallery, re-run", async (t) => {
    await runPageScenario(browser, cluster.url, BUNDLED_PACK, (m) => t.diagnostic(m));
  });
});
