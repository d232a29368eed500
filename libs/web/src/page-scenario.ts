/**
 * What the page's browser tests do, against any server of the page and its HTTP API (the local cluster's
 * gateway, `longshot serve`): a person's session in headless Chromium, checked at each step.
 *
 * 1. A frames value the pack does not have: the API's 400 is shown next to the Frames field, which is marked
 *    invalid and focused; no job is made.
 * 2. The prompt with seed 7, 65 frames, 4 keyframe and 2 interpolation steps, 2 videos: two jobs, seeds 7 and 8.
 *    Each card's status line (role=status) announces the stages as their events arrive; every stage row ends
 *    completed; the keyframe preview (the spritesheet variant, a PNG of the keyframes side by side at the
 *    video's size) appears before the job completes; the <video> loads and its duration is 65 frames at the
 *    pack's fps.
 * 3. A 257-frame job of 25 keyframe steps (seed 11), cancelled from its card: it ends cancelled.
 * 4. Reload: the gallery lists the three jobs with their status and settings, and its video of the first one
 *    loads; Re-run on it makes a new job with the same request, which completes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "puppeteer-core";

export const PROMPT = "a red circle moving right on a dark blue background";
const SEED = 7;
const CANCEL_SEED = 11;
const FRAMES = 65;

interface PackVideo {
  width: number;
  height: number;
  fps: number;
  keyframeStride: number;
  frames: number[];
}

/** What the page logs of itself as it changes (installed before its scripts run). */
interface LogEntry {
  t: number;
  kind: "announce" | "status" | "keyframes" | "stage";
  job: string;
  text: string;
}

function recordPageChanges(): void {
  const log: LogEntry[] = [];
  (window as unknown as { __pageLog: LogEntry[] }).__pageLog = log;
  const jobOf = (node: Element | null) => node?.closest("article.job")?.getAttribute("data-job-id") ?? "";
  const observer = new MutationObserver((mutations) => {
    const t = performance.now();
    for (const m of mutations) {
      const target = m.target instanceof Element ? m.target : m.target.parentElement;
      if (target === null) continue;
      if (m.type === "attributes" && target.matches("article.job") && m.attributeName === "data-status")
        log.push({ t, kind: "status", job: jobOf(target), text: target.getAttribute("data-status") ?? "" });
      if (m.type === "attributes" && target.matches("li.stage") && m.attributeName === "data-state")
        log.push({
          t,
          kind: "stage",
          job: jobOf(target),
          text: `${target.getAttribute("data-stage")} ${target.getAttribute("data-state")}`,
        });
      const status = target.closest("article.job [role=status]");
      if (status !== null && (m.type === "characterData" || m.type === "childList"))
        log.push({ t, kind: "announce", job: jobOf(status), text: status.textContent ?? "" });
      for (const added of m.type === "childList" ? [...m.addedNodes] : []) {
        if (!(added instanceof Element)) continue;
        for (const img of [added, ...added.querySelectorAll("img")])
          if (img.matches("img[data-testid=keyframes]")) log.push({ t, kind: "keyframes", job: jobOf(img), text: "" });
      }
    }
  });
  document.addEventListener("DOMContentLoaded", () =>
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true }),
  );
}

const AXE_SOURCE = readFileSync(fileURLToPath(import.meta.resolve("axe-core/axe.min.js")), "utf8");

/**
 * axe-core's WCAG 2.1 A and AA rules on the page as it is now (labels, names, ARIA, contrast, …). Its source is
 * evaluated through DevTools, as the page's Content-Security-Policy (rightly) refuses injected scripts.
 */
async function assertAccessible(page: Page, when: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  for (const scheme of ["light", "dark"]) {
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
    assert.deepEqual(await axeViolations(page), [], `accessibility ${when}, ${scheme} colour scheme`);
  }
  await page.emulateMediaFeatures([]);
}

async function axeViolations(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    type Violation = { id: string; help: string; nodes: Array<{ target: unknown }> };
    const axe = (window as unknown as { axe: { run(c: Document, o: object): Promise<{ violations: Violation[] }> } })
      .axe;
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations.map(
      (v) => `${v.id} (${v.help}): ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`,
    ) as string[];
  });
}

async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (el) => {
    (el as HTMLInputElement).value = "";
  });
  await page.type(selector, value);
}

/** The ids of the job cards under "Now", newest first. */
async function cardIds(page: Page): Promise<string[]> {
  return page.$$eval("section.now article.job", (cards) => cards.map((c) => c.getAttribute("data-job-id") ?? ""));
}

async function waitForStatus(page: Page, scope: string, id: string, status: string, timeout: number): Promise<void> {
  await page.waitForSelector(`${scope} article[data-job-id="${id}"][data-status="${status}"]`, { timeout });
}

/** The duration the <video> reports once its metadata has loaded (NaN on an error, with the error's code). */
async function videoDuration(page: Page, selector: string): Promise<number> {
  await page.waitForSelector(selector, { timeout: 30_000 });
  return page.$eval(
    selector,
    (el) =>
      new Promise<number>((resolve, reject) => {
        const v = el as HTMLVideoElement;
        if (v.readyState >= 1) resolve(v.duration);
        v.addEventListener("loadedmetadata", () => resolve(v.duration));
        v.addEventListener("error", () => reject(new Error(`video error ${v.error?.code}: ${v.error?.message}`)));
        if (v.preload === "none") v.load();
      }),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON answers, checked field by field.
async function json(base: string, route: string): Promise<any> {
  const res = await fetch(new URL(route, base));
  assert.equal(res.status, 200, `${route}: ${await res.clone().text()}`);
  return res.json();
}

export async function runPageScenario(
  browser: Browser,
  base: string,
  packDir: string,
  log: (message: string) => void = () => {},
): Promise<void> {
  const pack = JSON.parse(readFileSync(path.join(packDir, "pack.json"), "utf8")) as { video: PackVideo };
  assert.ok(pack.video.frames.includes(FRAMES), `the pack makes ${FRAMES} frames`);
  const badFrames = 20;
  assert.ok(!pack.video.frames.includes(badFrames));

  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    // The browser logs each 4xx answer the page expects (the 400 of step 1; the keyframe preview's 404
    // while it does not exist yet); anything else logged as an error fails the test.
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.evaluateOnNewDocument(recordPageChanges);
  await page.goto(base, { waitUntil: "networkidle0" });
  assert.equal(await page.title(), "longshot");
  // The options come from the API's OpenAPI document: the samplers are listed.
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll("#field-sampler option")].some(
        (o) => (o as HTMLOptionElement).value === "dpmpp_2m",
      ),
    { timeout: 10_000 },
  );

  // 1. A bad value: the API's 400 names the field, and the page shows it there.
  const before = (await json(base, "v1/videos?limit=1000")).data.length;
  await fill(page, "#field-prompt", PROMPT);
  await fill(page, "#field-frames", String(badFrames));
  await page.click("form.prompt-form button[type=submit]");
  await page.waitForSelector("#field-frames-error", { timeout: 10_000 });
  const frameError = await page.$eval("#field-frames-error", (el) => el.textContent ?? "");
  assert.match(frameError, /frames|20/i, frameError);
  assert.equal(await page.$eval("#field-frames", (el) => el.getAttribute("aria-invalid")), "true");
  assert.match(
    (await page.$eval("#field-frames", (el) => el.getAttribute("aria-describedby"))) ?? "",
    /field-frames-error/,
  );
  assert.equal(await page.evaluate(() => document.activeElement?.id), "field-frames", "the bad field has the focus");
  assert.equal((await json(base, "v1/videos?limit=1000")).data.length, before, "no job was made");
  log(`400 shown at the Frames field: ${frameError}`);
  await assertAccessible(page, "with the error shown");

  // 2. Two videos, seeds 7 and 8.
  await fill(page, "#field-frames", String(FRAMES));
  await fill(page, "#field-seed", String(SEED));
  await fill(page, "#field-keyframe_steps", "4");
  await fill(page, "#field-interpolation_steps", "2");
  await fill(page, "#field-count", "2");
  await page.click("form.prompt-form button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("section.now article.job").length === 2, {
    timeout: 20_000,
  });
  assert.equal(await page.$("#field-frames-error"), null, "the error is gone once the field is right");
  const [second, first] = (await cardIds(page)) as [string, string];
  const videos = [await json(base, `v1/videos/${first}`), await json(base, `v1/videos/${second}`)];
  assert.deepEqual(
    videos.map((v) => [v.request.seed, v.request.frames, v.request.keyframe_steps, v.request.interpolation_steps]),
    [
      [String(SEED), FRAMES, 4, 2],
      [String(SEED + 1), FRAMES, 4, 2],
    ],
  );
  log(`two jobs: ${first} (seed ${SEED}), ${second} (seed ${SEED + 1})`);

  for (const id of [first, second]) await waitForStatus(page, "section.now", id, "completed", 240_000);
  const pageLog = (await page.evaluate(() => (window as unknown as { __pageLog: LogEntry[] }).__pageLog)) as LogEntry[];
  for (const id of [first, second]) {
    const entries = pageLog.filter((e) => e.job === id);
    const announced = entries.filter((e) => e.kind === "announce").map((e) => e.text);
    assert.ok(announced.includes("Keyframes started"), `${id}: ${JSON.stringify(announced)}`);
    assert.ok(announced.includes("Completed"), `${id}: ${JSON.stringify(announced)}`);
    assert.ok(
      announced.some((a) => /^Keyframes done/.test(a)),
      `${id}: ${JSON.stringify(announced)}`,
    );
    assert.ok(
      announced.some((a) => /^Interpolation, level 1 started/.test(a)),
      `${id}: ${JSON.stringify(announced)}`,
    );
    assert.ok(
      announced.some((a) => /^Decode done/.test(a)),
      `${id}: ${JSON.stringify(announced)}`,
    );
    const stages = await page.$$eval(`article[data-job-id="${id}"] li.stage`, (rows) =>
      rows.map((r) => [
        r.getAttribute("data-stage"),
        r.getAttribute("data-state"),
        (r.querySelector("progress") as HTMLProgressElement).position,
      ]),
    );
    assert.equal(stages[0]?.[0], "keyframe:0", JSON.stringify(stages));
    assert.equal(stages.at(-1)?.[0], "decode:0", JSON.stringify(stages));
    assert.ok(
      stages.some(([s]) => s === "interpolation:1"),
      JSON.stringify(stages),
    );
    for (const [stage, state, position] of stages) {
      assert.equal(state, "completed", `${id} ${stage}`);
      assert.equal(position, 1, `${id} ${stage}: its progress bar is full`);
    }
    // The keyframes were shown before the video was done.
    const shown = entries.find((e) => e.kind === "keyframes");
    const done = entries.find((e) => e.kind === "status" && e.text === "completed");
    assert.ok(shown, `${id}: keyframe preview shown`);
    assert.ok(done, `${id}: completed`);
    assert.ok(shown.t <= done.t, `${id}: keyframes at ${shown.t.toFixed(0)} ms, completed at ${done.t.toFixed(0)} ms`);
    const size = await page.$eval(`article[data-job-id="${id}"] img[data-testid=keyframes]`, (img) => [
      (img as HTMLImageElement).naturalWidth,
      (img as HTMLImageElement).naturalHeight,
    ]);
    const keyframes = (FRAMES - 1) / pack.video.keyframeStride + 1;
    assert.deepEqual(
      size,
      [keyframes * pack.video.width, pack.video.height],
      `${id}: ${keyframes} keyframes side by side`,
    );
    const duration = await videoDuration(page, `section.now article[data-job-id="${id}"] video`);
    assert.ok(
      Math.abs(duration - FRAMES / pack.video.fps) < 0.5 / pack.video.fps,
      `${id}: the video lasts ${duration} s, ${FRAMES} frames at ${pack.video.fps} fps are ${FRAMES / pack.video.fps} s`,
    );
    log(
      `${id}: ${announced.length} announcements, ${stages.length} stages, keyframes ${size.join("x")} shown ` +
        `${(done.t - shown.t).toFixed(0)} ms before completion, video ${duration} s`,
    );
  }

  await assertAccessible(page, "with two videos done");

  // 3. A long job, cancelled from its card.
  await fill(page, "#field-seed", String(CANCEL_SEED));
  await fill(page, "#field-frames", "257");
  await fill(page, "#field-keyframe_steps", "25");
  await fill(page, "#field-count", "1");
  await page.click("form.prompt-form button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("section.now article.job").length === 3, {
    timeout: 20_000,
  });
  const cancelled = (await cardIds(page))[0] as string;
  const cancelButton = `section.now article[data-job-id="${cancelled}"] .actions button`;
  assert.match(await page.$eval(cancelButton, (b) => b.getAttribute("aria-label") ?? ""), /^Cancel “/);
  // From the keyboard: focus the button and press Enter.
  await page.focus(cancelButton);
  await page.keyboard.press("Enter");
  await waitForStatus(page, "section.now", cancelled, "cancelled", 60_000);
  assert.equal((await json(base, `v1/videos/${cancelled}`)).status, "cancelled");
  log(`${cancelled}: cancelled`);

  // 4. Reload: the gallery has all three, with their settings; re-run the first.
  await page.reload({ waitUntil: "networkidle0" });
  for (const [id, status] of [
    [first, "completed"],
    [second, "completed"],
    [cancelled, "cancelled"],
  ] as const)
    await waitForStatus(page, "section.gallery", id, status, 20_000);
  assert.deepEqual(await cardIds(page), [], "a new page has no job cards under Now");
  const settings = await page.$eval(`section.gallery article[data-job-id="${first}"] dl.settings`, (dl) =>
    Object.fromEntries(
      [...dl.querySelectorAll("div")].map((d) => [
        d.querySelector("dt")?.textContent,
        d.querySelector("dd")?.textContent,
      ]),
    ),
  );
  assert.equal(settings.Seed, String(SEED));
  assert.equal(settings.Frames, String(FRAMES));
  assert.equal(settings.Steps, "4 keyframe, 2 interpolation");
  const galleryDuration = await videoDuration(page, `section.gallery article[data-job-id="${first}"] video`);
  assert.ok(
    Math.abs(galleryDuration - FRAMES / pack.video.fps) < 0.5 / pack.video.fps,
    `gallery video ${galleryDuration} s`,
  );

  await assertAccessible(page, "of the gallery after a reload");

  // Edit copies a job's settings into the form.
  await page.click(`section.gallery article[data-job-id="${first}"] button[aria-label^="Edit"]`);
  await page.waitForFunction(() => document.activeElement?.id === "field-prompt", { timeout: 5_000 });
  const form = await page.$$eval("form.prompt-form [name]", (els) =>
    Object.fromEntries(els.map((e) => [(e as HTMLInputElement).name, (e as HTMLInputElement).value])),
  );
  assert.deepEqual(
    [form.prompt, form.seed, form.frames, form.keyframe_steps, form.interpolation_steps, form.count],
    [PROMPT, String(SEED), String(FRAMES), "4", "2", "1"],
  );

  await page.click(`section.gallery article[data-job-id="${first}"] button[aria-label^="Re-run"]`);
  await page.waitForFunction(() => document.querySelectorAll("section.now article.job").length === 1, {
    timeout: 20_000,
  });
  const rerun = (await cardIds(page))[0] as string;
  assert.notEqual(rerun, first);
  await waitForStatus(page, "section.now", rerun, "completed", 240_000);
  const [original, again] = [await json(base, `v1/videos/${first}`), await json(base, `v1/videos/${rerun}`)];
  const { idempotency_key: _a, ...originalRequest } = original.request;
  const { idempotency_key: _b, ...rerunRequest } = again.request;
  assert.deepEqual(rerunRequest, originalRequest, "the re-run asked for what the first run did");
  log(`${rerun}: re-run of ${first}, completed`);

  assert.deepEqual(consoleErrors, [], "no errors in the page's console");
  await page.close();
}
