#!/usr/bin/env node
// The `sigil` command. From a source checkout it runs the TypeScript through
// tsx; an image that ships only the compiled build (dist/) runs that. The CLI
// itself is run(argv, io) (src/cli/main.ts), which never exits the process:
// this file gives it the real process's streams, environment and signals,
// and exits with the code it returns.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
let cli;
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(source.href);
} else {
  cli = await import(new URL("../dist/src/cli/main.js", import.meta.url).href);
}
process.exit(await cli.run(process.argv.slice(2), cli.processIo()));
