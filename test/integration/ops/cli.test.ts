import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, TEST_ADMIN_PASSWORD } from "../../helpers/server.js";
import { runSigil } from "../../helpers/sigil-cli.js";

describe("sigil health, and sigil serve stopping on the signal SIGTERM/SIGINT raise", function () {
  this.timeout(90_000);

  it("reports ready (exit 0) while serve runs, drains on the signal, then reports unreachable (exit 1)", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-ops-cli-"));
    const db = await createTestDatabase();
    const httpPort = await freePort();
    const env = {
      SIGIL_DATA_DIR: dataDir,
      SIGIL_HOST: "127.0.0.1",
      SIGIL_HTTP_PORT: String(httpPort),
      SIGIL_HTTPS_PORT: "0",
      SIGIL_GRPC_PORT: "0",
      SIGIL_PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
      SIGIL_BOOTSTRAP_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
      SIGIL_LOG_LEVEL: "silent",
      SIGIL_SHUTDOWN_GRACE_SECONDS: "5",
      DATABASE_URL: db.url,
      SIGIL_MASTER_KEY: randomBytes(32).toString("hex"),
    };
    const stop = new AbortController();
    const serving = runSigil(["serve"], env, undefined, stop.signal);
    try {
      const base = `http://127.0.0.1:${httpPort}`;
      for (let i = 0; ; i++) {
        const up = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
        if (up) break;
        if (i > 300) throw new Error("serve did not become ready");
        await new Promise((r) => setTimeout(r, 100));
      }
      const ready = await runSigil(["health", "--server", base], {});
      assert.equal(ready.code, 0, ready.stderr);
      const body = JSON.parse(ready.stdout) as { status: string; checks: Record<string, { ok: boolean }> };
      assert.equal(body.status, "ok");
      assert.equal(body.checks.database?.ok, true);
      // the default server is http://127.0.0.1:$SIGIL_HTTP_PORT
      assert.equal((await runSigil(["health"], { SIGIL_HTTP_PORT: String(httpPort) })).code, 0);

      stop.abort(); // what processIo does on SIGTERM / SIGINT
      const served = await serving;
      assert.equal(served.code, 0, served.stderr);
      assert.match(served.stdout, /Sigil is up/);
      await assert.rejects(fetch(`${base}/healthz`));

      const gone = await runSigil(["health", "--server", base, "--timeout", "2"], {});
      assert.equal(gone.code, 1);
      assert.equal((JSON.parse(gone.stdout) as { status: string }).status, "unreachable");
    } finally {
      stop.abort();
      await serving.catch(() => undefined);
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses a bad --server or --timeout with exit 2", async () => {
    assert.equal((await runSigil(["health", "--server", "ftp://x"], {})).code, 2);
    assert.equal((await runSigil(["health", "--timeout", "-1"], {})).code, 2);
    assert.equal((await runSigil(["health", "--bogus"], {})).code, 2);
    const help = await runSigil(["health", "--help"], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: sigil health/);
  });
});
