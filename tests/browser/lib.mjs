// Shared by the browser tests: launch Debian's Chromium headless through
// playwright-core, and take a screenshot when a step fails.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** Launches Chromium as CI can run it: headless, no sandbox (root), no
 * background networking (the machine has no internet). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** Runs `steps(page)`; on failure saves `<name>.png` under $SHOTS and exits 1. */
export async function run(name, steps) {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const consoleErrors = [];
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  try {
    await steps(page);
    if (consoleErrors.length) throw new Error(`script errors in the page: ${consoleErrors.join("; ")}`);
    console.log(`${name}: ok`);
  } catch (error) {
    const dir = process.env.SHOTS || "screenshots";
    mkdirSync(dir, { recursive: true });
    const shot = join(dir, `${name}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`${name}: FAILED: ${error.stack || error}\nscreenshot: ${shot}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

/** Fails with `message` unless `condition` holds. */
export function expect(condition, message) {
  if (!condition) throw new Error(message);
}
