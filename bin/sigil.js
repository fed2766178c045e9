#!/usr/bin/env node
// The `sigil` command. It runs the compiled build (dist/, `npm run build`;
// npm ci builds it through the prepare script) so production never compiles
// TypeScript at run time. In a source checkout whose sources changed after
// the last build it runs the TypeScript through tsx instead (development and
// tests), so a stale dist/ is never what runs. The CLI itself is
// run(argv, io) (src/cli/main.ts), which never exits the process: this file
// gives it the real process's streams, environment and signals, and exits
// with the code it returns.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const compiled = new URL("../dist/src/cli/main.js", import.meta.url);
const source = new URL("../src/cli/main.ts", import.meta.url);

/** The newest modification time of the .ts files under `dir` (0 when there is none). */
function newestTs(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** dist/ is used when it exists and no source (src/, migrations/) is newer than its entry point. */
function compiledIsFresh() {
  if (!existsSync(compiled)) return false;
  if (!existsSync(source)) return true; // an image with the build only
  const built = statSync(compiled).mtimeMs;
  return newestTs(`${root}src`) <= built && newestTs(`${root}migrations`) <= built;
}

let cli;
if (compiledIsFresh()) {
  cli = await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(source.href);
}
process.exit(await cli.run(process.argv.slice(2), cli.processIo()));
