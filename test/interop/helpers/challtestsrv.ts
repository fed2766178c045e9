/**
 * pebble-challtestsrv as the test DNS server: every A query answers
 * 127.0.0.1 (so any test name resolves to loopback), AAAA answers nothing,
 * and TXT records for dns-01 are set through its management API.
 */
import type { ChildProcess } from "node:child_process";
import { freePort } from "../../helpers/server.js";
import { requireTool, startProcess } from "./tools.js";

export interface ChallTestSrv {
  /** "127.0.0.1:PORT", for SIGIL_DNS_SERVERS */
  dnsServer: string;
  /** http://127.0.0.1:PORT of the management API (hook scripts POST here) */
  managementUrl: string;
  /** adds a TXT value at `host` (several values may coexist) */
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const bin = requireTool("pebble-challtestsrv", "install the Debian package pebble (or put pebble-challtestsrv on PATH)");
  const dnsPort = await freePort();
  const mgmtPort = await freePort();
  const child = await startProcess(bin, [
    "-defaultIPv4", "127.0.0.1",
    "-defaultIPv6", "",
    "-dns01", `127.0.0.1:${dnsPort}`,
    "-management", `127.0.0.1:${mgmtPort}`,
    "-http01", "",
    "-https01", "",
    "-tlsalpn01", "",
  ]);
  let log = "";
  child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const managementUrl = `http://127.0.0.1:${mgmtPort}`;
  const post = async (p: string, body: object) => {
    const res = await fetch(`${managementUrl}${p}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${p}: HTTP ${res.status}`);
  };
  await waitReady(child, () => post("/clear-txt", { host: "ready.check." }), () => log);
  return {
    dnsServer: `127.0.0.1:${dnsPort}`,
    managementUrl,
    setTxt: (host, value) => post("/set-txt", { host: fqdn(host), value }),
    clearTxt: (host) => post("/clear-txt", { host: fqdn(host) }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
    },
  };
}

function fqdn(host: string): string {
  return host.endsWith(".") ? host : `${host}.`;
}

async function waitReady(child: ChildProcess, probe: () => Promise<void>, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pebble-challtestsrv exited with ${child.exitCode}:\n${log()}`);
    try {
      await probe();
      return;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`pebble-challtestsrv did not start within 10 s:\n${log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
