/** Shared helpers for the relying-party integration tests: URLs out of certificates, fetching, openssl without blocking. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { generateKeyPair } from "../../../src/ca/keys.js";
import type { Certificate } from "../../../src/db/entities/index.js";
import type { Actor } from "../../../src/ra/actor.js";
import { inTransaction, type RaContext } from "../../../src/ra/context.js";
import { issueLeafInTx } from "../../../src/ra/issuance.js";
import { openssl, opensslOk, type OpensslResult } from "../../unit/ca/openssl.js";
import { findCa } from "../../../src/db/store/certificate-authorities.js";
import type { Session } from "../../../src/db/store/session.js";

/** the CRL DP and AIA URLs of a PEM certificate, read the way a relying party does */
export function urlsOf(pem: string): { crl?: string; ocsp?: string; caIssuers?: string } {
  const r = openssl(["x509", "-noout", "-ext", "crlDistributionPoints,authorityInfoAccess"], pem);
  assert.equal(r.status, 0, r.out);
  const text = r.stdout;
  return {
    crl: /URI:(\S+\.crl)/.exec(text)?.[1],
    ocsp: /OCSP - URI:(\S+)/.exec(text)?.[1],
    caIssuers: /CA Issuers - URI:(\S+)/.exec(text)?.[1],
  };
}

export async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  const r = await fetch(url, init);
  assert.equal(r.status, 200, `GET ${url} -> ${r.status}`);
  return r;
}

export async function fetchDer(url: string): Promise<Buffer> {
  return Buffer.from(await (await fetchOk(url)).arrayBuffer());
}

export function derToPem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
}

/**
 * openssl without blocking the event loop: `openssl ocsp -url` talks to the
 * server running in this process, which must keep answering meanwhile.
 */
export function opensslAsync(args: string[]): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill(), 20_000);
    child.on("error", (e) => reject(new Error(`cannot run openssl (required by these tests): ${e.message}`)));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr, out: stdout + stderr });
    });
  });
}

/** polls `check` every 100 ms until it returns a value, for at most `ms` */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function crlNumberOf(crlPemFile: string): bigint {
  const out = opensslOk(["crl", "-in", crlPemFile, "-noout", "-crlnumber"]);
  const m = /crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(out);
  assert.ok(m, out);
  return BigInt(`0x${m[1]}`);
}


/** issues a 30-day P-256 server leaf for `name` from CA `caId` through the RA (the admin path) */
export async function issueTestLeaf(ctx: RaContext, actor: Actor, caId: string, name: string): Promise<Certificate> {
  const kp = await generateKeyPair("p256");
  return inTransaction(ctx, async (tx) => {
    const ca = await loadCaOrFail(tx, caId);
    return issueLeafInTx(ctx, tx, actor, {
      ca,
      publicKey: kp.publicKey,
      type: "server",
      dnsNames: [name],
      ipAddresses: [],
      emails: [],
      notAfter: new Date(Date.now() + 30 * 86_400_000),
      source: "admin",
    });
  });
}

/** a CA row read through the transaction it is used in */
async function loadCaOrFail(s: Session, id: string) {
  const ca = await findCa(s, id, { includeDeleted: true });
  if (!ca) throw new Error(`no CA ${id}`);
  return ca;
}
