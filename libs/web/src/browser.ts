/**
 * Headless Chromium for the page's tests and its screenshot: the machine's browser (Debian's `chromium`,
 * installed by setup.sh), driven by puppeteer-core over the DevTools protocol. puppeteer-core never downloads
 * a browser; CHROMIUM_BIN names another binary.
 */
import { existsSync } from "node:fs";
import { findExecutable } from "@longshot/testing";
import puppeteer, { type Browser } from "puppeteer-core";

/** The Chromium binary: $CHROMIUM_BIN, else `chromium` (or `chromium-browser`) on PATH; an Error saying how to get one. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const found = findExecutable("chromium") ?? findExecutable("chromium-browser");
  if (found === null)
    throw new Error(
      "no chromium on PATH: the page's browser tests need Debian's chromium (./setup.sh installs it as root; " +
        "else `sudo apt-get install -y chromium`), or CHROMIUM_BIN naming a Chromium binary",
    );
  return found;
}

/** A headless Chromium; close it with `browser.close()`. */
export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      // CI and the dev machines run as root, where Chromium's sandbox cannot start.
      ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--autoplay-policy=no-user-gesture-required",
      "--mute-audio",
    ],
  });
}
