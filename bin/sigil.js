#!/usr/bin/env node
// The `sigil` command. From a source checkout it runs the TypeScript through
// tsx; an image that ships only the compiled build (dist/) runs that.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import(new URL("../dist/src/cli/main.js", import.meta.url).href);
}
