/**
 * TLS test helpers: a GET over HTTPS with a chosen trust anchor, the peer
 * certificate of a fresh connection, and self-signed test pairs from openssl.
 */
import { execFileSync } from "node:child_process";
import https from "node:https";
import path from "node:path";
import tls from "node:tls";
import type { Clock } from "../../../src/core/clock.js";

/** A clock that runs with real time, shifted by `offsetMs` (tests move it forward). */
export class OffsetClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  protocol: string | null;
  peer: tls.PeerCertificate;
}

/** GET over a new TLS connection (no agent reuse), verifying the server against `ca`. */
export function httpsGet(url: string, opts: { ca?: string; headers?: Record<string, string>; rejectUnauthorized?: boolean } = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: opts.ca, agent: false, headers: opts.headers, rejectUnauthorized: opts.rejectUnauthorized ?? true }, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const peer = socket.getPeerCertificate();
      const protocol = socket.getProtocol();
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, protocol, peer }));
    });
    req.on("error", reject);
  });
}

/** The leaf certificate a new TLS connection to 127.0.0.1:port is shown (not verified). */
export function peerCertificate(port: number, opts: Omit<tls.ConnectionOptions, "host" | "port"> = {}): Promise<tls.PeerCertificate & { protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...opts }, () => {
      const peer = s.getPeerCertificate();
      const protocol = s.getProtocol();
      s.end();
      resolve(Object.assign(peer, { protocol }));
    });
    s.on("error", reject);
  });
}

/** A self-signed P-256 certificate for 127.0.0.1 written to dir/<name>.crt and .key; returns the paths. */
export function selfSignedPair(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1"],
    { stdio: "ignore" },
  );
  return { cert, key };
}

/** SHA-256 fingerprint of a PEM certificate file, as PeerCertificate.fingerprint256 spells it */
export function fingerprintOf(certPath: string): string {
  const out = execFileSync("openssl", ["x509", "-in", certPath, "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" });
  return out.trim().split("=")[1]!.toUpperCase();
}

/** polls `fn` until it returns true or `ms` passed */
export async function eventually(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
