/**
 * A test server with the `sigil` CLI logged in to it as the superuser: the
 * set-up the CLI integration tests share (one before/after pair, `ok` that
 * asserts exit 0, `json` that parses `--json` output).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runSigil } from "./sigil-cli.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "./server.js";

export interface CliSession {
  server: TestServer;
  env: Record<string, string>;
  /** the CLI's config directory (removed by stop): room for the test's own files */
  home: string;
  /** runs `sigil args` (with `env`, or the session's), asserts exit 0, returns stdout */
  ok(args: string[], env?: Record<string, string>): Promise<string>;
  /** runs `sigil args --json` and parses it */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json<T = any>(args: string[], env?: Record<string, string>): Promise<T>;
  stop(): Promise<void>;
}

/** `extraEnv` is added to the CLI's environment (e.g. SIGIL_PASSWORD: "" so none leaks in from the shell) */
export async function startCliSession(name: string, extraEnv: Record<string, string> = {}): Promise<CliSession> {
  const server = await startTestServer();
  const home = mkdtempSync(path.join(tmpdir(), `sigil-cli-${name}-`));
  const env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", ...extraEnv };
  const login = await runSigil(["login", "--username", "admin", "--password-stdin"], env, `${TEST_ADMIN_PASSWORD}\n`);
  assert.equal(login.code, 0, login.stderr);
  const ok = async (args: string[], e: Record<string, string> = env): Promise<string> => {
    const r = await runSigil(args, e);
    assert.equal(r.code, 0, `sigil ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  return {
    server,
    env,
    home,
    ok,
    json: async (args, e) => JSON.parse(await ok([...args, "--json"], e)),
    stop: async () => {
      await server.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
