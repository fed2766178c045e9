/**
 * Test stubs for the validators: real local HTTP/TLS/TCP servers on loopback
 * ephemeral ports, a fake DnsResolver, and tls-alpn-01 certificates made by
 * the real openssl binary (missing openssl fails loudly).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import {
  DnsError,
  type CaaRecord,
  type DnsResolver,
  type HttpFetcher,
  type HttpFetchRequest,
  type HttpFetchResponse,
  type TlsDialer,
  type TlsDialRequest,
  type TlsDialResult,
} from "../../../src/validation/network.js";

export const THUMBPRINT = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
export const keyAuthz = (token: string): string => `${token}.${THUMBPRINT}`;

export interface Closable {
  close(): Promise<void>;
}

const openSockets = new WeakMap<net.Server, Set<net.Socket>>();

/** closes the server and destroys every connection it still has */
function closeServer(s: net.Server): Promise<void> {
  return new Promise((resolve) => {
    for (const sock of openSockets.get(s) ?? []) sock.destroy();
    s.close(() => resolve());
  });
}

function track(s: net.Server): net.Server {
  const set = new Set<net.Socket>();
  openSockets.set(s, set);
  s.on("connection", (sock: net.Socket) => {
    set.add(sock);
    sock.on("close", () => set.delete(sock));
  });
  return s;
}

function listen(s: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    s.once("error", onError);
    s.listen(port, host, () => {
      s.off("error", onError);
      resolve((s.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Listens with two servers built by `make` on 127.0.0.1 and [::1], same
 * ephemeral port (so one configured port reaches both families).
 */
export async function listenLoopback(make: () => net.Server): Promise<{ port: number } & Closable> {
  for (let i = 0; ; i++) {
    const v4 = track(make());
    const port = await listen(v4, "127.0.0.1", 0);
    const v6 = track(make());
    try {
      await listen(v6, "::1", port);
      return { port, close: async () => void (await Promise.all([closeServer(v4), closeServer(v6)])) };
    } catch (e) {
      await closeServer(v4);
      if (i >= 10) throw e;
    }
  }
}

/** A port nothing listens on (bound once, then released). */
export async function unusedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s, "127.0.0.1", 0);
  await closeServer(s);
  return port;
}

/** A TCP server answering every connection with non-TLS garbage, then closing. */
export async function startGarbageServer(): Promise<{ port: number } & Closable> {
  return listenLoopback(() => net.createServer((sock) => sock.resume().end("HTTP/1.1 400 Not TLS\r\n\r\n")));
}

/** A TCP server that accepts connections and never answers. */
export async function startSilentServer(): Promise<{ port: number } & Closable> {
  return listenLoopback(() => net.createServer(() => undefined));
}

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A real HTTP server; requests are recorded and routed by `route(req)`. */
export async function startHttpStub(route: (req: http.IncomingMessage) => HttpHandler | undefined): Promise<{ port: number; requests: Array<{ host: string | undefined; url: string | undefined }> } & Closable> {
  const requests: Array<{ host: string | undefined; url: string | undefined }> = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    requests.push({ host: req.headers.host, url: req.url });
    const h = route(req);
    if (h) h(req, res);
    else res.writeHead(404).end("not found");
  };
  const r = await listenLoopback(() => http.createServer(handler));
  return { ...r, requests };
}

// ---------------------------------------------------------------------------
// DNS

export interface FakeZone {
  a?: string[] | string;
  aaaa?: string[] | string;
  txt?: string[][] | string;
  caa?: CaaRecord[] | string;
  /** the name is a CNAME to this one (followed for CAA queries, as a recursive resolver does: RFC 8659 §3) */
  cname?: string;
}

/**
 * A fake DnsResolver over a map of names. A string value is a DNS error
 * code to throw (e.g. "ESERVFAIL"); an absent name is NXDOMAIN, an absent
 * record type NODATA. Every query is counted.
 */
export class FakeResolver implements DnsResolver {
  readonly queries: string[] = [];
  constructor(readonly zone: Record<string, FakeZone> = {}) {}

  private answer<T>(name: string, qtype: "a" | "aaaa" | "txt" | "caa"): Promise<T> {
    this.queries.push(`${qtype.toUpperCase()} ${name}`);
    const z = this.zone[name];
    if (!z) return Promise.reject(new DnsError("ENOTFOUND"));
    const v = z[qtype];
    if (v === undefined) return Promise.reject(new DnsError("ENODATA"));
    if (typeof v === "string") return Promise.reject(new DnsError(v));
    return Promise.resolve(v as T);
  }
  resolve4(name: string): Promise<string[]> {
    return this.answer(name, "a");
  }
  resolve6(name: string): Promise<string[]> {
    return this.answer(name, "aaaa");
  }
  resolveTxt(name: string): Promise<string[][]> {
    return this.answer(name, "txt");
  }
  resolveCaa(name: string): Promise<CaaRecord[]> {
    // a recursive resolver answers with the CNAME target's records (at most 8 hops here)
    let target = name;
    for (let i = 0; i < 8 && this.zone[target]?.cname; i++) target = this.zone[target]!.cname!;
    if (target !== name) this.queries.push(`CNAME ${name}`);
    return this.answer(target, "caa");
  }
}

// ---------------------------------------------------------------------------
// Certificates

export interface AlpnCertOptions {
  /** openssl subjectAltName value, e.g. "DNS:example.test" or "IP:127.0.0.1"; omit for none */
  san?: string;
  /** the 32-byte acmeIdentifier value; omit for no extension */
  digest?: Buffer;
  /** mark the acmeIdentifier extension critical (default true) */
  critical?: boolean;
}

export interface KeyAndCert {
  key: string;
  cert: string;
}

function opensslOk(args: string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`cannot run openssl (required by these tests): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}):\n${r.stdout}${r.stderr}`);
}

/** Self-signed P-256 certificates for tls-alpn-01 stubs (RFC 8737 §3), one key for all. */
export class AlpnCertFactory {
  private readonly dir = mkdtempSync(path.join(tmpdir(), "sigil-validation-test-"));
  private readonly keyFile = path.join(this.dir, "key.pem");
  private n = 0;
  constructor() {
    opensslOk(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", this.keyFile]);
  }
  make(opts: AlpnCertOptions): KeyAndCert {
    const out = path.join(this.dir, `cert${this.n++}.pem`);
    const args = ["req", "-x509", "-key", this.keyFile, "-out", out, "-days", "1", "-subj", "/CN=acme-tls-alpn-01"];
    if (opts.san) args.push("-addext", `subjectAltName=${opts.san}`);
    if (opts.digest) {
      if (opts.digest.length > 127) throw new Error("digest too long for the short DER length form");
      const der = `04${opts.digest.length.toString(16).padStart(2, "0")}${opts.digest.toString("hex")}`;
      args.push("-addext", `1.3.6.1.5.5.7.1.31=${opts.critical === false ? "" : "critical,"}DER:${der}`);
    }
    opensslOk(args);
    return { key: readFileSync(this.keyFile, "utf8"), cert: readFileSync(out, "utf8") };
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A real TLS server (node:tls) choosing the certificate by SNI; records the
 * SNI names it saw. With alpn false it does not speak ALPN at all.
 */
export async function startTlsStub(
  certs: Map<string, KeyAndCert>,
  fallback: KeyAndCert,
  opts: { alpn?: boolean; onConnection?: (socket: tls.TLSSocket) => void } = {},
): Promise<{ port: number; sni: string[]; setCert(name: string, kc: KeyAndCert): void } & Closable> {
  const sni: string[] = [];
  const contexts = new Map([...certs].map(([name, kc]) => [name, tls.createSecureContext(kc)]));
  const make = (): net.Server =>
    tls.createServer(
      {
        ...fallback,
        ...(opts.alpn === false ? {} : { ALPNProtocols: ["acme-tls/1", "http/1.1"] }),
        SNICallback: (name, cb) => {
          sni.push(name);
          cb(null, contexts.get(name) ?? tls.createSecureContext(fallback));
        },
      },
      (socket) => {
        socket.on("error", () => undefined);
        if (opts.onConnection) opts.onConnection(socket);
        else socket.end();
      },
    );
  const r = await listenLoopback(make);
  return { ...r, sni, setCert: (name, kc) => void contexts.set(name, tls.createSecureContext(kc)) };
}

/** A real HTTPS server (self-signed, any SNI) with the same routing as startHttpStub. */
export async function startHttpsStub(kc: KeyAndCert, route: (req: http.IncomingMessage) => HttpHandler | undefined): Promise<{ port: number } & Closable> {
  return listenLoopback(() =>
    https.createServer(kc, (req, res) => {
      const h = route(req);
      if (h) h(req, res);
      else res.writeHead(404).end("not found");
    }),
  );
}

// ---------------------------------------------------------------------------
// Recording network doubles (no sockets)

/**
 * An HttpFetcher that answers from `answer` and records every request it
 * was asked to make (the address it would have connected to included), so
 * tests can prove a refused address was never dialled.
 */
export class RecordingFetcher implements HttpFetcher {
  readonly requests: HttpFetchRequest[] = [];
  /** fetches in progress now, and the most at once */
  inFlight = 0;
  maxInFlight = 0;
  constructor(readonly answer: (req: HttpFetchRequest) => HttpFetchResponse | Promise<HttpFetchResponse>) {}
  async get(req: HttpFetchRequest): Promise<HttpFetchResponse> {
    this.requests.push(req);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.answer(req);
    } finally {
      this.inFlight--;
    }
  }
}

/** A TlsDialer that records every dial and answers from `answer`. */
export class RecordingDialer implements TlsDialer {
  readonly requests: TlsDialRequest[] = [];
  constructor(readonly answer: (req: TlsDialRequest) => TlsDialResult | Promise<TlsDialResult>) {}
  async dial(req: TlsDialRequest): Promise<TlsDialResult> {
    this.requests.push(req);
    return this.answer(req);
  }
}

/** An HttpFetchResponse with a text body. */
export function fetched(status: number, body = "", location?: string): HttpFetchResponse {
  return { status, location, body: Buffer.from(body), truncated: false };
}
