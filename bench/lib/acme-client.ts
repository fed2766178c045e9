/**
 * A deliberately small ACME client for load generation (RFC 8555), built on
 * jose and node:http with keep-alive: one account per client, nonces carried
 * from response to request (§6.5), POST-as-GET reads (§6.3). It does only
 * what a full http-01 issuance needs, so the client's own CPU stays small
 * beside the server's.
 */
import http from "node:http";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, type JWK } from "jose";
import { generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** keep-alive HTTP/1.1 requests (no fetch: undici's per-request overhead would be charged to the client budget) */
export class HttpClient {
  readonly agent: http.Agent;
  requests = 0;
  constructor(maxSockets = 256) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  request(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    this.requests++;
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, agent: this.agent, headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** an RFC 7807 / RFC 8555 §6.7 problem (or an unexpected answer) */
export class AcmeProblem extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    detail: string,
    readonly step: string,
  ) {
    super(`${step}: ${status} ${type}: ${detail}`);
  }
}

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

export async function fetchDirectory(http: HttpClient, url: string): Promise<Directory> {
  const r = await http.request("GET", url);
  if (r.status !== 200) throw new Error(`directory ${url}: HTTP ${r.status}`);
  return JSON.parse(r.body.toString()) as Directory;
}

/** a pre-generated account key, as the benchmark makes them up front */
const generateKeyPairAsync = promisify(generateKeyPair);

export interface AccountKey {
  privateKey: KeyObject;
  jwk: JWK;
  thumbprint: string;
}

export async function generateAccountKey(): Promise<AccountKey> {
  // on libuv's pool: KeyObjects straight from generateKeyPairSync can deadlock Node 20 (bench/acme.ts CsrPool)
  const { privateKey, publicKey } = await generateKeyPairAsync("ec", { namedCurve: "P-256" });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, "sha256") };
}

interface OrderJson {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: { type: string; detail?: string };
}

interface AuthzJson {
  status: string;
  challenges: Array<{ type: string; url: string; token: string; status: string }>;
}

export interface IssuanceStats {
  /** HTTP requests this issuance made (nonce fetches included) */
  requests: number;
  /** order polls (POST-as-GET of the order while pending / processing) */
  polls: number;
  /** badNonce answers retried (RFC 8555 §6.5: the client retries with the fresh nonce) */
  badNonceRetries: number;
  /** challenge POST sent -> the validator's first request reached the responder (ms) */
  validationStartMs?: number;
  /** challenge POST sent -> the order seen ready (ms; the server may answer the POST only once validated) */
  readyMs?: number;
  /** finalize request sent -> answered (ms) */
  finalizeMs?: number;
  /** ms spent waiting for answers, by step (polls summed), excluding the client's own sleeps */
  steps: Record<string, number>;
  /** ms the client slept between polls */
  sleepMs: number;
}

/** where key authorizations are published for the validator (the shared responder) */
export interface Http01Publisher {
  keyAuthorizations: Map<string, string>;
  firstHit: Map<string, number>;
}

export interface PollPolicy {
  /** first wait before polling the order after the challenge POST / finalize */
  firstMs: number;
  /** waits double up to this cap; Retry-After is honoured when shorter */
  capMs: number;
}

/** One ACME account driving full issuances one after the other. */
export class BenchAccount {
  private nonce: string | undefined;
  kid: string | undefined;
  private stats: IssuanceStats = newStats();

  constructor(
    private readonly http: HttpClient,
    private readonly dir: Directory,
    readonly key: AccountKey,
  ) {}

  private async freshNonce(): Promise<string> {
    this.stats.requests++;
    const t = performance.now();
    const r = await this.http.request("HEAD", this.dir.newNonce);
    this.stats.steps.newNonce = (this.stats.steps.newNonce ?? 0) + (performance.now() - t);
    const n = r.headers["replay-nonce"];
    if (typeof n !== "string") throw new AcmeProblem("noNonce", r.status, "newNonce gave no Replay-Nonce", "newNonce");
    return n;
  }

  /** a JWS-signed POST (payload undefined = POST-as-GET), retrying badNonce */
  async post(url: string, payload: object | undefined, step: string, useJwk = false): Promise<HttpResult> {
    for (let attempt = 0; ; attempt++) {
      const nonce = this.nonce ?? (await this.freshNonce());
      this.nonce = undefined;
      const header = useJwk || !this.kid ? { alg: "ES256", nonce, url, jwk: this.key.jwk } : { alg: "ES256", nonce, url, kid: this.kid };
      const jws = await new FlattenedSign(new TextEncoder().encode(payload === undefined ? "" : JSON.stringify(payload)))
        .setProtectedHeader(header)
        .sign(this.key.privateKey);
      this.stats.requests++;
      const t = performance.now();
      const r = await this.http.request("POST", url, JSON.stringify(jws), { "content-type": "application/jose+json" });
      this.stats.steps[step] = (this.stats.steps[step] ?? 0) + (performance.now() - t);
      const n = r.headers["replay-nonce"];
      if (typeof n === "string") this.nonce = n;
      if (r.status >= 400) {
        const problem = parseProblem(r);
        if (problem.type === "urn:ietf:params:acme:error:badNonce" && attempt < 3) {
          this.stats.badNonceRetries++;
          continue;
        }
        throw new AcmeProblem(problem.type.replace("urn:ietf:params:acme:error:", ""), r.status, problem.detail, step);
      }
      return r;
    }
  }

  /** POST-as-GET of the account itself (§7.3.3 style read): the cheapest authenticated request */
  async readAccount(): Promise<void> {
    await this.post(this.kid!, undefined, "account");
  }

  async register(): Promise<void> {
    const r = await this.post(this.dir.newAccount, { termsOfServiceAgreed: true, contact: [] }, "newAccount", true);
    const loc = r.headers.location;
    if (typeof loc !== "string") throw new Error("newAccount: no Location");
    this.kid = loc;
  }

  /**
   * newOrder for one dns name -> authz -> http-01 challenge POST (the key
   * authorization published in `publish`) -> poll until ready -> finalize
   * -> poll until valid -> download. Resolves with the PEM chain.
   */
  async issue(name: string, csrDer: Buffer, publish: Http01Publisher, poll: PollPolicy): Promise<{ pem: string; stats: IssuanceStats }> {
    this.stats = newStats();
    const created = await this.post(this.dir.newOrder, { identifiers: [{ type: "dns", value: name }] }, "newOrder");
    if (created.status !== 201) throw new AcmeProblem("unexpectedStatus", created.status, "newOrder did not answer 201", "newOrder");
    const orderUrl = created.headers.location;
    if (typeof orderUrl !== "string") throw new Error("newOrder: no Location");
    let order = JSON.parse(created.body.toString()) as OrderJson;

    if (order.status === "pending") {
      const authz = JSON.parse((await this.post(order.authorizations[0]!, undefined, "authz")).body.toString()) as AuthzJson;
      const ch = authz.challenges.find((c) => c.type === "http-01");
      if (!ch) throw new AcmeProblem("noHttp01", 0, "no http-01 challenge offered", "authz");
      publish.keyAuthorizations.set(ch.token, `${ch.token}.${this.key.thumbprint}`);
      try {
        const posted = performance.now();
        await this.post(ch.url, {}, "challenge");
        order = await this.pollOrder(orderUrl, ["pending", "processing"], poll, "poll-ready");
        this.stats.readyMs = performance.now() - posted;
        const hit = publish.firstHit.get(ch.token);
        if (hit !== undefined) this.stats.validationStartMs = hit - posted;
      } finally {
        publish.keyAuthorizations.delete(ch.token);
        publish.firstHit.delete(ch.token);
      }
    }
    if (order.status !== "ready") throw orderProblem(order, "poll-ready");

    const finStart = performance.now();
    const fin = await this.post(order.finalize, { csr: csrDer.toString("base64url") }, "finalize");
    this.stats.finalizeMs = performance.now() - finStart;
    order = JSON.parse(fin.body.toString()) as OrderJson;
    if (order.status === "processing") order = await this.pollOrder(orderUrl, ["processing"], poll, "poll-valid", retryAfterMs(fin));
    if (order.status !== "valid" || !order.certificate) throw orderProblem(order, "finalize");

    const cert = await this.post(order.certificate, undefined, "certificate");
    const pem = cert.body.toString();
    if (!pem.startsWith("-----BEGIN CERTIFICATE-----")) throw new AcmeProblem("badChain", cert.status, "certificate download is not PEM", "certificate");
    return { pem, stats: this.stats };
  }

  private async pollOrder(url: string, waitWhile: string[], poll: PollPolicy, step: string, firstHintMs?: number): Promise<OrderJson> {
    let wait = Math.min(poll.firstMs, firstHintMs ?? Infinity);
    for (;;) {
      const slept = performance.now();
      await sleep(wait);
      this.stats.sleepMs += performance.now() - slept;
      this.stats.polls++;
      const r = await this.post(url, undefined, step);
      const order = JSON.parse(r.body.toString()) as OrderJson;
      if (!waitWhile.includes(order.status)) return order;
      // RFC 8555 §7.4 / §8.2: honour Retry-After, but never wait longer than the cap
      wait = Math.min(Math.max(wait * 2, poll.firstMs), poll.capMs, retryAfterMs(r) ?? Infinity);
    }
  }
}

function newStats(): IssuanceStats {
  return { requests: 0, polls: 0, badNonceRetries: 0, steps: {}, sleepMs: 0 };
}

function retryAfterMs(r: HttpResult): number | undefined {
  const v = r.headers["retry-after"];
  if (typeof v !== "string") return undefined;
  const s = Number(v);
  return Number.isFinite(s) ? s * 1000 : undefined;
}

function parseProblem(r: HttpResult): { type: string; detail: string } {
  try {
    const j = JSON.parse(r.body.toString()) as { type?: string; detail?: string };
    return { type: j.type ?? "unknown", detail: j.detail ?? "" };
  } catch {
    return { type: `http${r.status}`, detail: r.body.toString().slice(0, 200) };
  }
}

function orderProblem(order: OrderJson, step: string): AcmeProblem {
  const t = order.error?.type?.replace("urn:ietf:params:acme:error:", "") ?? `order-${order.status}`;
  return new AcmeProblem(t, 200, order.error?.detail ?? `order is ${order.status}`, step);
}

export function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}
