/**
 * No TypeScript compilation at run time: bin/sigil.js runs the compiled
 * dist/src/cli/main.js when it is at least as new as every source, falls
 * back to tsx in a checkout whose sources changed since the build, and an
 * image with only dist/ runs dist/. Checked on a copy of bin/sigil.js in a
 * scratch tree with stub entry points, so no build is needed here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runSigil, spawnSigil } from "../../helpers/sigil-cli.js";

const stub = (who: string) =>
  `export function processIo() { return { stdout: process.stdout }; }\nexport async function run(argv, io) { io.stdout.write(${JSON.stringify(who)} + " " + argv.join(" ")); return 3; }\n`;

describe("the build: bin/sigil.js runs compiled code, tsx only for changed sources", function () {
  this.timeout(30_000);
  let tree: string;
  before(() => {
    tree = mkdtempSync(path.join(tmpdir(), "sigil-build-"));
    mkdirSync(path.join(tree, "bin"));
    copyFileSync(path.resolve("bin/sigil.js"), path.join(tree, "bin/sigil.js"));
    mkdirSync(path.join(tree, "dist/src/cli"), { recursive: true });
    writeFileSync(path.join(tree, "dist/src/cli/main.js"), stub("compiled"));
    mkdirSync(path.join(tree, "src/cli"), { recursive: true });
    mkdirSync(path.join(tree, "migrations"));
    writeFileSync(path.join(tree, "src/cli/main.ts"), stub("source").replace("(argv, io)", "(argv: string[], io: { stdout: NodeJS.WritableStream })"));
    writeFileSync(path.join(tree, "migrations/M1.ts"), "export {};\n");
    writeFileSync(path.join(tree, "package.json"), JSON.stringify({ name: "scratch", type: "module" }));
    symlinkSync(path.resolve("node_modules"), path.join(tree, "node_modules"), "dir");
  });
  after(() => rmSync(tree, { recursive: true, force: true }));

  const setTime = (rel: string, secondsAgo: number) => {
    const t = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(path.join(tree, rel), t, t);
  };
  const sigil = (...args: string[]) => spawnSync(process.execPath, [path.join(tree, "bin/sigil.js"), ...args], { encoding: "utf8" });

  it("runs dist/ when it is newer than every source, passing argv and the exit code", () => {
    setTime("src/cli/main.ts", 60);
    setTime("migrations/M1.ts", 60);
    setTime("dist/src/cli/main.js", 10);
    const r = sigil("serve", "--no-migrate");
    assert.equal(r.stdout, "compiled serve --no-migrate");
    assert.equal(r.status, 3);
  });

  it("runs the sources through tsx when a source or a migration changed after the build", () => {
    setTime("src/cli/main.ts", 1);
    assert.equal(sigil("x").stdout, "source x");
    setTime("src/cli/main.ts", 60);
    setTime("migrations/M1.ts", 1);
    assert.equal(sigil("x").stdout, "source x");
  });

  it("runs dist/ in an image that ships no sources", () => {
    rmSync(path.join(tree, "src"), { recursive: true });
    assert.equal(sigil("x").stdout, "compiled x");
  });
});

describe("sigil --version", function () {
  this.timeout(30_000);
  const version = (JSON.parse(readFileSync(path.resolve("package.json"), "utf8")) as { version: string }).version;

  it("prints package.json's version and exits 0, in-process and from the real binary", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await runSigil([flag], {});
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `sigil ${version}\n`);
    }
    const bin = await spawnSigil(["--version"], {});
    assert.equal(bin.code, 0, bin.stderr);
    assert.equal(bin.stdout, `sigil ${version}\n`);
  });
});
