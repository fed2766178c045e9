#!/usr/bin/env node
// `npm test`: every test file on PostgreSQL and, at the same time, the
// admin-plane files that start a test server once more on the embedded
// database (SIGIL_TEST_DB=embedded, see test/helpers/server.ts), each with
// mocha --parallel (every file has its own database or data directory).
// The first run's output streams; the second's is held and printed after
// it, so the two never interleave. Ends with ONE line
// "N passed, N failed[, N skipped]" summing both runs, which .ci/run reads;
// exits non-zero when anything failed or a run died before reporting.
//
// SIGIL_TEST_JOBS sets mocha's --jobs of the PostgreSQL run (default 3; the
// embedded run uses 2). For a subset, run mocha directly:
//   npx mocha test/integration/admin/ca.test.ts
//   SIGIL_TEST_DB=embedded npx mocha test/integration/admin/ca.test.ts
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const require = createRequire(import.meta.url);
const { summaryLine } = require("../summary-reporter.cjs");
const mocha = require.resolve("mocha/bin/mocha.js");

// the admin files whose servers come from startTestServer (directly or through startCliSession), i.e. follow SIGIL_TEST_DB
const adminDir = "test/integration/admin";
const embeddedFiles = readdirSync(adminDir)
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => path.join(adminDir, f))
  .filter((f) => /\b(startTestServer|startCliSession)\(/.test(readFileSync(f, "utf8")))
  .sort((a, b) => statSync(b).size - statSync(a).size);

/**
 * Every test file, the slow kinds first (interop, then integration, then
 * unit; bigger files first within each): mocha --parallel hands files out in
 * this order, so the long ones do not start last and leave the other
 * workers idle at the end.
 */
function allTestFiles() {
  const rank = (f) => (f.startsWith("test/interop/") ? 0 : f.startsWith("test/integration/") ? 1 : 2);
  return readdirSync("test", { recursive: true })
    .map((f) => path.join("test", String(f)))
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => ({ f, rank: rank(f.split(path.sep).join("/")), size: statSync(f).size }))
    .sort((a, b) => a.rank - b.rank || b.size - a.size || a.f.localeCompare(b.f))
    .map((x) => x.f);
}

const runs = [
  { title: "PostgreSQL", env: {}, jobs: process.env.SIGIL_TEST_JOBS ?? "3", files: allTestFiles(), stream: true },
  { title: "admin plane on the embedded database", env: { SIGIL_TEST_DB: "embedded" }, jobs: "2", files: embeddedFiles, stream: false },
];

const work = mkdtempSync(path.join(tmpdir(), "sigil-test-counts-"));

/** Runs one mocha; resolves to its exit code, the counts its reporter wrote, its held output and its time. */
function start(r, i) {
  const countsFile = path.join(work, `${i}.json`);
  const t0 = Date.now();
  const held = [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mocha, "--parallel", "--jobs", r.jobs, ...r.files], {
      stdio: ["ignore", r.stream ? "inherit" : "pipe", r.stream ? "inherit" : "pipe"],
      env: { ...process.env, ...r.env, SIGIL_TEST_COUNTS_FILE: countsFile },
    });
    child.stdout?.on("data", (d) => held.push(d));
    child.stderr?.on("data", (d) => held.push(d));
    const done = (code) => {
      let counts;
      try {
        counts = JSON.parse(readFileSync(countsFile, "utf8"));
      } catch {
        // mocha died before reporting: a failure, never a pass
        counts = { passes: 0, failures: 1, pending: 0 };
      }
      resolve({ code, counts, held: Buffer.concat(held), seconds: Math.round((Date.now() - t0) / 1000) });
    };
    child.on("error", () => done(1));
    child.on("close", (c) => done(c ?? 1));
  });
}

const total = { passes: 0, failures: 0, pending: 0 };
let status = 0;
try {
  for (const r of runs) process.stdout.write(`== ${r.title}: mocha --parallel --jobs ${r.jobs} ${r.files.length > 3 ? `(${r.files.length} files)` : r.files.join(" ")}\n`);
  const results = await Promise.all(runs.map(start));
  for (const [i, res] of results.entries()) {
    const r = runs[i];
    if (!r.stream) process.stdout.write(`\n== ${r.title}:\n${res.held}`);
    process.stdout.write(`== ${r.title}: ${summaryLine(res.counts)} (${res.seconds} s)\n`);
    for (const k of Object.keys(total)) total[k] += res.counts[k];
    if (res.code !== 0) status = 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (total.failures > 0) status = 1;
process.stdout.write(`\n${summaryLine(total)}\n`);
process.exit(status);
