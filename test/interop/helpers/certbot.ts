/**
 * Real certbot, isolated in a temporary directory: its own config, work and
 * logs directories, never prompting, always naming the ACME server. Plain
 * http:// directory URLs are accepted by certbot (no TLS front needed).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { requireTool, run, type RunResult } from "./tools.js";

export interface CertbotOptions {
  /** the ACME directory URL (--server) */
  server: string;
  email?: string;
}

export interface LineagePaths {
  cert: string;
  chain: string;
  fullchain: string;
  privkey: string;
}

export class Certbot {
  readonly bin: string;
  readonly root: string;
  readonly server: string;
  readonly email: string;

  constructor(opts: CertbotOptions) {
    this.bin = requireTool("certbot", "install the Debian package certbot (.ci/run does)");
    this.root = mkdtempSync(path.join(tmpdir(), "sigil-certbot-"));
    this.server = opts.server;
    this.email = opts.email ?? "test@example.org";
  }

  /** the options every run gets: isolation, non-interactive, the server */
  private common(): string[] {
    return [
      "--config-dir", path.join(this.root, "config"),
      "--work-dir", path.join(this.root, "work"),
      "--logs-dir", path.join(this.root, "logs"),
      "--non-interactive",
      "--server", this.server,
    ];
  }

  /** runs `certbot <subcommand> <args>`; resolves with the exit code and output */
  async run(subcommand: string, args: string[] = []): Promise<RunResult> {
    return run(this.bin, [subcommand, ...this.common(), ...args], { timeoutMs: 180_000, env: { ...process.env, PYTHONWARNINGS: "ignore" } });
  }

  /** like run, but a non-zero exit throws with certbot's output and the tail of its log */
  async runOk(subcommand: string, args: string[] = []): Promise<RunResult> {
    const r = await this.run(subcommand, args);
    if (r.code !== 0) {
      throw new Error(`certbot ${subcommand} ${args.join(" ")} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- log tail\n${this.logTail()}`);
    }
    return r;
  }

  /** `certbot register` with the test address and the ToS agreed */
  register(extra: string[] = []): Promise<RunResult> {
    return this.runOk("register", ["--agree-tos", "-m", this.email, ...extra]);
  }

  /** files of the lineage named `certName` (the first -d name unless --cert-name was given) */
  lineage(certName: string): LineagePaths {
    const dir = path.join(this.root, "config", "live", certName);
    return {
      cert: path.join(dir, "cert.pem"),
      chain: path.join(dir, "chain.pem"),
      fullchain: path.join(dir, "fullchain.pem"),
      privkey: path.join(dir, "privkey.pem"),
    };
  }

  /** the last lines of certbot's own log (for failure messages) */
  logTail(lines = 60): string {
    try {
      return readFileSync(path.join(this.root, "logs", "letsencrypt.log"), "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no certbot log)";
    }
  }

  /**
   * Writes manual-mode hook scripts that set / clear the dns-01 TXT record
   * through pebble-challtestsrv's management API, using the variables
   * certbot passes ($CERTBOT_DOMAIN has no "*." for a wildcard name).
   */
  dnsHooks(managementUrl: string): { auth: string; cleanup: string } {
    requireTool("curl", "the dns-01 hook scripts use curl");
    const auth = path.join(this.root, "auth-hook.sh");
    const cleanup = path.join(this.root, "cleanup-hook.sh");
    writeFileSync(
      auth,
      `#!/bin/sh
set -e
curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.\${CERTBOT_DOMAIN}.\\",\\"value\\":\\"\${CERTBOT_VALIDATION}\\"}" ${managementUrl}/set-txt
`,
    );
    writeFileSync(
      cleanup,
      `#!/bin/sh
set -e
curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.\${CERTBOT_DOMAIN}.\\"}" ${managementUrl}/clear-txt
`,
    );
    chmodSync(auth, 0o755);
    chmodSync(cleanup, 0o755);
    return { auth, cleanup };
  }

  /** removes the temporary directory (kept when SIGIL_KEEP_CERTBOT=1, for reading certbot's logs) */
  cleanup(): void {
    if (process.env.SIGIL_KEEP_CERTBOT === "1") {
      process.stderr.write(`certbot directory kept: ${this.root}\n`);
      return;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
