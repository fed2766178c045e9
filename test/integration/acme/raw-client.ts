/** A minimal hand-rolled ACME client (jose) for crafting good and bad requests in tests. */
import { exportJWK, FlattenedSign, generateKeyPair, type JWK } from "jose";

export type SignKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

export interface RawResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

export class RawAcme {
  dir!: Record<string, string>;
  kid?: string;
  key!: SignKey;
  jwk!: JWK;
  alg = "ES256";
  private lastNonce?: string;

  constructor(readonly directoryUrl: string) {}

  static async create(directoryUrl: string, alg = "ES256"): Promise<RawAcme> {
    const c = new RawAcme(directoryUrl);
    await c.init(alg);
    return c;
  }

  async init(alg = "ES256"): Promise<void> {
    this.dir = (await (await fetch(this.directoryUrl)).json()) as Record<string, string>;
    await this.setKey(alg);
  }

  async setKey(alg: string): Promise<void> {
    const kp = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
    this.key = kp.privateKey;
    this.jwk = await exportJWK(kp.publicKey);
    this.alg = alg;
  }

  async nonce(): Promise<string> {
    if (this.lastNonce) {
      const n = this.lastNonce;
      this.lastNonce = undefined;
      return n;
    }
    const r = await fetch(this.dir.newNonce!, { method: "HEAD" });
    return r.headers.get("replay-nonce")!;
  }

  /** signs `payload` (undefined = POST-as-GET) for `url`; header overrides are merged last */
  async sign(url: string, payload: unknown, opts: { useJwk?: boolean; header?: Record<string, unknown>; key?: SignKey; alg?: string } = {}) {
    const header: Record<string, unknown> = { alg: opts.alg ?? this.alg, nonce: await this.nonce(), url };
    if (opts.useJwk || !this.kid) header.jwk = this.jwk;
    else header.kid = this.kid;
    Object.assign(header, opts.header ?? {});
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
    const bytes = payload === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    return new FlattenedSign(bytes).setProtectedHeader(header as { alg: string }).sign(opts.key ?? this.key);
  }

  async postRaw(url: string, body: unknown, contentType = "application/jose+json"): Promise<RawResponse> {
    const r = await fetch(url, { method: "POST", headers: { "content-type": contentType }, body: typeof body === "string" ? body : JSON.stringify(body) });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    const n = r.headers.get("replay-nonce");
    if (n) this.lastNonce = n;
    return { status: r.status, headers: r.headers, body: parsed, text };
  }

  async post(url: string, payload: unknown, opts: Parameters<RawAcme["sign"]>[2] = {}): Promise<RawResponse> {
    return this.postRaw(url, await this.sign(url, payload, opts));
  }

  /**
   * RFC 8555 §7.3.4 externalAccountBinding for this client's key: a flattened
   * JWS (HS256 unless `alg`) over the account JWK with the EAB kid and the
   * newAccount URL; `tamper` changes the MAC after signing.
   */
  async eab(kid: string, hmacKeyB64u: string, opts: { alg?: string; url?: string; tamper?: boolean } = {}) {
    const header = { alg: opts.alg ?? "HS256", kid, url: opts.url ?? this.dir.newAccount! };
    const jws = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(this.jwk)))
      .setProtectedHeader(header)
      .sign(Buffer.from(hmacKeyB64u, "base64url"));
    if (opts.tamper) {
      const mac = Buffer.from(jws.signature, "base64url");
      mac[0]! ^= 0x01;
      jws.signature = mac.toString("base64url");
    }
    return jws;
  }

  /**
   * RFC 8555 §7.3.5 keyChange inner JWS: signed by the new key, jwk = new key,
   * url = keyChange URL, payload { account, oldKey }; overrides merged last.
   */
  async keyChangeInner(
    next: { key: SignKey; jwk: JWK; alg: string },
    opts: { header?: Record<string, unknown>; payload?: Record<string, unknown> } = {},
  ) {
    const header: Record<string, unknown> = { alg: next.alg, jwk: next.jwk, url: this.dir.keyChange!, ...opts.header };
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
    const payload = { account: this.kid, oldKey: this.jwk, ...opts.payload };
    return new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header as { alg: string }).sign(next.key);
  }

  async register(extra: Record<string, unknown> = {}): Promise<RawResponse> {
    const r = await this.post(this.dir.newAccount!, { termsOfServiceAgreed: true, ...extra }, { useJwk: true });
    if (r.status === 201 || r.status === 200) this.kid = r.headers.get("location")!;
    return r;
  }
}

/** RFC 8555 §6.5: every ACME answer, errors included, carries a fresh Replay-Nonce */
export function assertNonce(r: RawResponse): void {
  const n = r.headers.get("replay-nonce") ?? "";
  if (!/^[A-Za-z0-9_-]{16,}$/.test(n)) throw new Error(`every ACME answer carries a fresh Replay-Nonce (a ${r.status} answer had ${JSON.stringify(n)})`);
}
