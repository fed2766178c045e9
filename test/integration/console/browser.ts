/**
 * The console's browser for tests: Debian's chromium driven by
 * playwright-core (executablePath pointed at the system binary; nothing is
 * ever downloaded). .ci/run installs chromium when it is missing; here a
 * missing binary fails loudly, it never skips.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";

/** SIGIL_TEST_CHROMIUM, else `chromium` on PATH (Debian: /usr/bin/chromium). */
export function chromiumPath(): string {
  const fromEnv = process.env.SIGIL_TEST_CHROMIUM;
  if (fromEnv) return fromEnv;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const p = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (p && existsSync(p)) return p;
    } catch {
      // not this name
    }
  }
  throw new Error("chromium is required for the console tests (apt-get install -y chromium; .ci/run does it)");
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // root in CI containers has no user namespace sandbox; /dev/shm is small there
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    timeout: 90_000,
  });
}

/** Where the tests' screenshots go (printed once; docs/images/ keeps one). */
export const screenshotDir = process.env.SIGIL_TEST_CONSOLE_SCREENSHOTS ?? mkdtempSync(path.join(tmpdir(), "sigil-console-shots-"));
