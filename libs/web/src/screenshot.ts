/**
 * The README's screenshot of the page, after a real run: headless Chromium (puppeteer-core) submits two videos
 * of README's prompt (seeds 1 and 2, the pack's default steps), waits until both are done and their videos
 * play, and saves the page.
 *
 *   node libs/web/dist/screenshot.js [--cluster | --url URL] [--out docs/images/page.png]
 *
 * By default it starts `longshot serve` with the bundled pack (README's command), with --cluster the local
 * cluster (scripts/cluster), and stops it afterwards; with --url it uses a running server of the page.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { launchBrowser } from "./browser.js";
import { BUNDLED_PACK, startLocalCluster } from "./local-cluster.js";
import { startLocalServe } from "./local-serve.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROMPT = "a red circle moving right on a dark blue background";
const SEED = 1;
const VIDEOS = 2;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      cluster: { type: "boolean", default: false },
      out: { type: "string", default: path.join(ROOT, "docs", "images", "page.png") },
    },
  });
  const out = path.resolve(values.out as string);
  let stop: (() => Promise<void>) | undefined;
  const browser = await launchBrowser();
  try {
    let url = values.url;
    if (url === undefined) {
      const server = values.cluster ? await startLocalCluster() : await startLocalServe(BUNDLED_PACK);
      stop = "down" in server ? server.down : server.stop;
      url = server.url;
    }
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000, deviceScaleFactor: 1 });
    await page.goto(url, { waitUntil: "networkidle0" });
    await page.waitForFunction(() => document.querySelectorAll("#field-sampler option").length > 1);
    await page.type("#field-prompt", PROMPT);
    await page.type("#field-seed", String(SEED));
    await page.$eval("#field-count", (el) => {
      (el as HTMLInputElement).value = "";
    });
    await page.type("#field-count", String(VIDEOS));
    await page.click("form.prompt-form button[type=submit]");
    await page.waitForFunction(
      (n) => document.querySelectorAll('section.now article.job[data-status="completed"]').length === n,
      { timeout: 300_000 },
      VIDEOS,
    );
    // Each video has loaded and played a little, and the gallery shows the two.
    await page.waitForFunction(
      (n) =>
        [...document.querySelectorAll("section.now video")].filter(
          (v) => (v as HTMLVideoElement).readyState >= 2 && (v as HTMLVideoElement).currentTime > 1,
        ).length === n && document.querySelectorAll('section.gallery article[data-status="completed"]').length >= n,
      { timeout: 60_000 },
      VIDEOS,
    );
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    mkdirSync(path.dirname(out), { recursive: true });
    await page.screenshot({ path: out as `${string}.png`, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
    await stop?.();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
