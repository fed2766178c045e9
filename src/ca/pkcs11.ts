/**
 * The PKCS#11 key store: CA keys generated in (or imported into) a token,
 * never leaving it, and signing by C_Sign on pooled, logged-in sessions.
 *
 * - Keys: CKA_TOKEN (persistent), CKA_PRIVATE, CKA_SENSITIVE and
 *   CKA_EXTRACTABLE=false (PKCS#11 v2.40 §4.9: the value can never be read
 *   or wrapped out), CKA_SIGN only. Each pair shares a random 16-byte CKA_ID;
 *   its hex is the key reference the CA row records, and CKA_LABEL carries a
 *   readable name. A restart finds the key again by that CKA_ID.
 * - Mechanisms: CKM_ECDSA over a SHA-256 / SHA-384 digest computed here (the
 *   token returns r || s, re-encoded as DER for X.509: RFC 3279 §2.2.3,
 *   RFC 5480 §2.2), CKM_SHA256_RSA_PKCS for RSA (RFC 4055 §5).
 * - Sessions: one login for the application (PKCS#11 v2.40 §5.6), a pool of
 *   R/W sessions (./pkcs11-pool.ts), one user per session. A session that
 *   fails with a session or login error is closed and the call retried once
 *   on a fresh one (logging in again when the token lost the login).
 *
 * The module is loaded only when SIGIL_PKCS11_MODULE is set (a native addon).
 */
import { createHash, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";
import type * as Pkcs11Types from "pkcs11js";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";
import { derBitString, derOid, seq } from "./der.js";
import { ecdsaRawToDer, signatureHashOf, type GeneratedKey, type KeyStore, type SigningKey, type StoredKey } from "./key-store.js";
import { keyAlgorithmOf, OID_EC_PUBLIC_KEY, OID_P256, OID_P384, spkiOf } from "./keys.js";
import { SessionPool } from "./pkcs11-pool.js";

type Pkcs11Module = typeof Pkcs11Types;
type Handle = Buffer;

/** Where the token is and how to log in (validated in src/config.ts). */
export interface Pkcs11Options {
  /** SIGIL_PKCS11_MODULE: the PKCS#11 library (.so) */
  module: string;
  /** SIGIL_PKCS11_TOKEN_LABEL: the token's label (CK_TOKEN_INFO.label, trailing spaces ignored) */
  tokenLabel?: string;
  /** SIGIL_PKCS11_SLOT: the slot id, when no label is given */
  slot?: bigint;
  /** SIGIL_PKCS11_PIN / SIGIL_PKCS11_PIN_FILE: the user PIN */
  pin: string;
  /** SIGIL_PKCS11_SESSIONS (default 4): sessions kept open */
  sessions?: number;
}

let loaded: Pkcs11Module | undefined;
function pkcs11Module(): Pkcs11Module {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)("pkcs11js") as Pkcs11Module;
    } catch (e) {
      throw SigilError.unavailable("the pkcs11js native module could not be loaded (npm rebuild pkcs11js)", e);
    }
  }
  return loaded;
}

/** the CKR_* name of a PKCS#11 error, else undefined */
export function pkcs11ErrorName(e: unknown): string | undefined {
  const m = e instanceof Error ? /CKR_[A-Z_]+/.exec(e.message) : null;
  return m?.[0];
}

/** errors after which a session (or the login) is unusable: close it and retry on a fresh one */
const BROKEN_SESSION = new Set([
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_USER_NOT_LOGGED_IN",
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_DEVICE_ERROR",
]);

function isBrokenSession(e: unknown): boolean {
  const name = pkcs11ErrorName(e);
  return name !== undefined && BROKEN_SESSION.has(name);
}

/** RFC 5480 §2.1.1.1 namedCurve OIDs (CKA_EC_PARAMS holds the DER OID) */
const CURVES: Partial<Record<KeyAlgorithm, { oid: string; size: number }>> = {
  p256: { oid: OID_P256, size: 32 },
  p384: { oid: OID_P384, size: 48 },
};

const b64url = (b: Buffer): string => b.toString("base64url");

/**
 * A logged-in PKCS#11 token. One per process (C_Initialize is per
 * application); the key store and every signing key share it.
 */
export class Pkcs11Token {
  readonly slot: Handle;
  readonly label: string;
  private readonly lib: Pkcs11Types.PKCS11;
  private readonly pool: SessionPool<Handle>;
  private finalized = false;

  private constructor(
    readonly p: Pkcs11Module,
    lib: Pkcs11Types.PKCS11,
    slot: Handle,
    label: string,
    private readonly pin: string,
    sessions: number,
  ) {
    this.lib = lib;
    this.slot = slot;
    this.label = label;
    this.pool = new SessionPool<Handle>({
      open: () => this.lib.C_OpenSession(this.slot, this.p.CKF_SERIAL_SESSION | this.p.CKF_RW_SESSION),
      close: (s) => this.lib.C_CloseSession(s),
      max: sessions,
      isBroken: isBrokenSession,
    });
  }

  /** Loads the module, finds the token and logs in; a wrong setting stops start-up naming the variable. */
  static open(opts: Pkcs11Options): Pkcs11Token {
    const p = pkcs11Module();
    const lib = acquireLibrary(p, opts.module);
    try {
      const { slot, label } = findSlot(lib, opts);
      const token = new Pkcs11Token(p, lib, slot, label, opts.pin, opts.sessions ?? 4);
      token.modulePath = opts.module;
      token.login();
      return token;
    } catch (e) {
      releaseLibrary(opts.module);
      throw e;
    }
  }

  private modulePath = "";

  /** C_Login as the user; the login holds for every session of this application (PKCS#11 v2.40 §5.6). */
  private login(): void {
    this.pool.withSession((s) => {
      try {
        this.lib.C_Login(s, this.p.CKU_USER, this.pin);
      } catch (e) {
        const name = pkcs11ErrorName(e);
        if (name === "CKR_USER_ALREADY_LOGGED_IN") return;
        if (name === "CKR_PIN_INCORRECT" || name === "CKR_PIN_INVALID" || name === "CKR_PIN_LEN_RANGE" || name === "CKR_PIN_LOCKED") {
          throw SigilError.config(`SIGIL_PKCS11_PIN: the token "${this.label}" refused the PIN (${name})`, "SIGIL_PKCS11_PIN");
        }
        throw SigilError.config(`SIGIL_PKCS11_PIN: C_Login on the token "${this.label}" failed (${name ?? "error"})`, "SIGIL_PKCS11_PIN");
      }
    });
  }

  /**
   * Runs `fn` on a pooled session; a broken session or lost login is
   * replaced (and the user logged in again) and `fn` retried once.
   */
  run<T>(fn: (lib: Pkcs11Types.PKCS11, session: Handle) => T): T {
    if (this.finalized) throw SigilError.unavailable("the PKCS#11 token is closed");
    try {
      return this.pool.withSession((s) => fn(this.lib, s));
    } catch (e) {
      if (!isBrokenSession(e)) throw e;
      if (pkcs11ErrorName(e) === "CKR_USER_NOT_LOGGED_IN") this.login();
      return this.pool.withSession((s) => fn(this.lib, s));
    }
  }

  /** `run` for an asynchronous call (C_SignAsync): waits for a free session when all are busy. */
  async runAsync<T>(fn: (lib: Pkcs11Types.PKCS11, session: Handle) => Promise<T>): Promise<T> {
    if (this.finalized) throw SigilError.unavailable("the PKCS#11 token is closed");
    try {
      return await this.pool.withSessionAsync((s) => fn(this.lib, s));
    } catch (e) {
      if (!isBrokenSession(e)) throw e;
      if (pkcs11ErrorName(e) === "CKR_USER_NOT_LOGGED_IN") this.login();
      return this.pool.withSessionAsync((s) => fn(this.lib, s));
    }
  }

  /** sessions open now (for tests and metrics) */
  get sessionCount(): number {
    return this.pool.size;
  }

  /** Closes the sessions and, with the last token on the library, finalizes it (server shutdown). */
  close(): void {
    if (this.finalized) return;
    // no C_Logout: the login is the application's, shared with any other token object on this library; C_Finalize ends it
    this.pool.close();
    this.finalized = true;
    releaseLibrary(this.modulePath);
  }
}

/**
 * C_Initialize is once per process (PKCS#11 v2.40 §5.4): tokens opened on
 * the same module share one loaded, initialized library, finalized when the
 * last of them closes (a server stopped and started again in one process
 * initializes it afresh).
 */
const libraries = new Map<string, { lib: Pkcs11Types.PKCS11; refs: number }>();

function acquireLibrary(p: Pkcs11Module, modulePath: string): Pkcs11Types.PKCS11 {
  const held = libraries.get(modulePath);
  if (held) {
    held.refs++;
    return held.lib;
  }
  const lib = new p.PKCS11();
  try {
    lib.load(modulePath);
  } catch (e) {
    throw SigilError.config(`SIGIL_PKCS11_MODULE: cannot load ${modulePath} (${e instanceof Error ? e.message.split("\n")[0] : "error"})`, "SIGIL_PKCS11_MODULE");
  }
  try {
    // CKF_OS_LOCKING_OK (PKCS#11 v2.40 §5.4): C_SignAsync and C_GenerateKeyPairAsync call the library from
    // libuv's worker threads, so it must lock; with no arguments a library may assume one thread
    lib.C_Initialize({ flags: p.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (pkcs11ErrorName(e) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") {
      throw SigilError.config(`SIGIL_PKCS11_MODULE: C_Initialize failed (${pkcs11ErrorName(e) ?? "error"})`, "SIGIL_PKCS11_MODULE");
    }
  }
  libraries.set(modulePath, { lib, refs: 1 });
  return lib;
}

function releaseLibrary(modulePath: string): void {
  const held = libraries.get(modulePath);
  if (!held) return;
  if (--held.refs > 0) return;
  libraries.delete(modulePath);
  try {
    held.lib.C_Finalize();
  } catch {
    // already finalized
  }
}

function slotIdOf(h: Handle): bigint {
  let v = 0n;
  for (let i = h.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(h[i]!); // CK_SLOT_ID in host (little-endian) order
  return v;
}

function findSlot(lib: Pkcs11Types.PKCS11, opts: Pkcs11Options): { slot: Handle; label: string } {
  const slots = lib.C_GetSlotList(true);
  const tokens = slots.map((slot) => ({ slot, label: lib.C_GetTokenInfo(slot).label.replace(/[\s\0]+$/, "") }));
  if (opts.tokenLabel !== undefined) {
    const hits = tokens.filter((t) => t.label === opts.tokenLabel);
    if (hits.length === 0) {
      const seen = tokens.map((t) => `"${t.label}"`).join(", ") || "none";
      throw SigilError.config(`SIGIL_PKCS11_TOKEN_LABEL: no token labelled "${opts.tokenLabel}" (tokens present: ${seen})`, "SIGIL_PKCS11_TOKEN_LABEL");
    }
    if (hits.length > 1) throw SigilError.config(`SIGIL_PKCS11_TOKEN_LABEL: ${hits.length} tokens are labelled "${opts.tokenLabel}"; set SIGIL_PKCS11_SLOT instead`, "SIGIL_PKCS11_TOKEN_LABEL");
    return hits[0]!;
  }
  if (opts.slot !== undefined) {
    const hit = tokens.find((t) => slotIdOf(t.slot) === opts.slot);
    if (!hit) {
      const seen = tokens.map((t) => String(slotIdOf(t.slot))).join(", ") || "none";
      throw SigilError.config(`SIGIL_PKCS11_SLOT: no token in slot ${opts.slot} (slots with a token: ${seen})`, "SIGIL_PKCS11_SLOT");
    }
    return hit;
  }
  throw SigilError.config("SIGIL_PKCS11_MODULE needs SIGIL_PKCS11_TOKEN_LABEL or SIGIL_PKCS11_SLOT", "SIGIL_PKCS11_TOKEN_LABEL");
}

/** A key pair in the token, found by CKA_ID. */
class Pkcs11SigningKey implements SigningKey {
  readonly storage = "pkcs11" as const;
  private handle: Handle;
  private readonly hash: "sha256" | "sha384";
  private readonly mechanism: Pkcs11Types.Mechanism;
  /** the largest signature: 2 x field size (ECDSA r || s) or the modulus size (RSA) */
  private readonly sigMax: number;
  private readonly ecdsa: boolean;

  constructor(
    private readonly token: Pkcs11Token,
    readonly reference: string,
    handle: Handle,
    readonly algorithm: KeyAlgorithm,
    readonly publicKey: KeyObject,
  ) {
    this.handle = handle;
    this.spki = spkiOf(publicKey);
    this.hash = signatureHashOf(algorithm);
    const curve = CURVES[algorithm];
    this.ecdsa = curve !== undefined;
    this.sigMax = curve ? 2 * curve.size : Number(algorithm.slice(3)) / 8;
    this.mechanism = { mechanism: curve ? token.p.CKM_ECDSA : token.p.CKM_SHA256_RSA_PKCS };
  }

  readonly spki: Buffer;

  sign(data: Buffer): Buffer {
    const input = this.ecdsa ? createHash(this.hash).update(data).digest() : data;
    const raw = this.withHandle(() =>
      this.token.run((lib, s) => {
        lib.C_SignInit(s, this.mechanism, this.handle);
        return lib.C_Sign(s, input, Buffer.allocUnsafe(this.sigMax));
      }),
    );
    return this.ecdsa ? ecdsaRawToDer(raw) : Buffer.from(raw);
  }

  /** the same signature, computed on libuv's thread pool (the event loop keeps running while the token works) */
  async signAsync(data: Buffer): Promise<Buffer> {
    const input = this.ecdsa ? createHash(this.hash).update(data).digest() : data;
    const raw = await this.token.runAsync(async (lib, s) => {
      lib.C_SignInit(s, this.mechanism, this.handle);
      return lib.C_SignAsync(s, input, Buffer.allocUnsafe(this.sigMax));
    });
    return this.ecdsa ? ecdsaRawToDer(raw) : Buffer.from(raw);
  }

  /** an object handle can go stale (the token was re-inserted): find the key again by CKA_ID and retry once */
  private withHandle<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (pkcs11ErrorName(e) !== "CKR_OBJECT_HANDLE_INVALID" && pkcs11ErrorName(e) !== "CKR_KEY_HANDLE_INVALID") throw e;
      this.handle = findObject(this.token, this.token.p.CKO_PRIVATE_KEY, Buffer.from(this.reference, "hex"));
      return fn();
    }
  }
}

function findObject(token: Pkcs11Token, cls: number, id: Buffer): Handle {
  const found = token.run((lib, s) => {
    lib.C_FindObjectsInit(s, [
      { type: token.p.CKA_CLASS, value: cls },
      { type: token.p.CKA_ID, value: id },
    ]);
    try {
      return lib.C_FindObjects(s, 2);
    } finally {
      lib.C_FindObjectsFinal(s);
    }
  });
  const what = cls === token.p.CKO_PRIVATE_KEY ? "private" : "public";
  if (found.length === 0) {
    throw SigilError.failedPrecondition(`the PKCS#11 token "${token.label}" has no ${what} key with CKA_ID ${id.toString("hex")}`);
  }
  if (found.length > 1) throw SigilError.failedPrecondition(`the PKCS#11 token "${token.label}" has several ${what} keys with CKA_ID ${id.toString("hex")}`);
  return found[0]!;
}

/** SubjectPublicKeyInfo of the token's public key object (RFC 5480 §2 for EC, RFC 8017 for RSA) */
function readPublicKey(token: Pkcs11Token, handle: Handle): KeyObject {
  const p = token.p;
  const [type] = token.run((lib, s) => lib.C_GetAttributeValue(s, handle, [{ type: p.CKA_KEY_TYPE }]));
  const keyType = type!.value.readUIntLE(0, Math.min(6, type!.value.length));
  if (keyType === p.CKK_EC) {
    const [params, point] = token.run((lib, s) => lib.C_GetAttributeValue(s, handle, [{ type: p.CKA_EC_PARAMS }, { type: p.CKA_EC_POINT }]));
    // CKA_EC_POINT is the DER OCTET STRING of the X9.62 point (PKCS#11 v2.40 §2.3.3); some tokens give the point bare
    const curve = Object.values(CURVES).find((c) => derOid(c.oid).equals(params!.value));
    if (!curve) throw SigilError.failedPrecondition("the PKCS#11 key is on an unsupported curve (P-256 and P-384 are)");
    let q = point!.value;
    const bare = 2 * curve.size + 1;
    if (q.length !== bare) {
      const head = q.length - bare;
      if (q[0] !== 0x04 || (head !== 2 && head !== 3)) throw SigilError.failedPrecondition("the PKCS#11 key's CKA_EC_POINT is not an uncompressed point");
      q = q.subarray(head);
    }
    const spki = seq(seq(derOid(OID_EC_PUBLIC_KEY), params!.value), derBitString(q));
    return createPublicKey({ key: spki, format: "der", type: "spki" });
  }
  if (keyType === p.CKK_RSA) {
    const [n, e] = token.run((lib, s) => lib.C_GetAttributeValue(s, handle, [{ type: p.CKA_MODULUS }, { type: p.CKA_PUBLIC_EXPONENT }]));
    return createPublicKey({ key: { kty: "RSA", n: b64url(n!.value), e: b64url(e!.value) }, format: "jwk" });
  }
  throw SigilError.failedPrecondition(`the PKCS#11 key is of an unsupported type (CKK ${keyType})`);
}

/** The PKCS#11 key store over one token. */
export class Pkcs11KeyStore implements KeyStore {
  readonly storage = "pkcs11" as const;
  /** handles by reference: a CA's key is looked up in the token once */
  private readonly keys = new Map<string, Pkcs11SigningKey>();

  constructor(readonly token: Pkcs11Token) {}

  static open(opts: Pkcs11Options): Pkcs11KeyStore {
    return new Pkcs11KeyStore(Pkcs11Token.open(opts));
  }

  /** A key pair generated inside the token: sensitive, non-extractable, persistent. */
  async generate(alg: KeyAlgorithm, label: string): Promise<GeneratedKey> {
    const p = this.token.p;
    const id = randomBytes(16);
    const common = [
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_ID, value: id },
      { type: p.CKA_LABEL, value: label },
    ];
    const priv = [
      ...common,
      { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_EXTRACTABLE, value: false },
      { type: p.CKA_SIGN, value: true },
      { type: p.CKA_DECRYPT, value: false },
      { type: p.CKA_UNWRAP, value: false },
      { type: p.CKA_DERIVE, value: false },
    ];
    const curve = CURVES[alg];
    let mechanism: Pkcs11Types.Mechanism;
    let pub: Pkcs11Types.Template;
    if (curve) {
      mechanism = { mechanism: p.CKM_EC_KEY_PAIR_GEN };
      pub = [...common, { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY }, { type: p.CKA_VERIFY, value: true }, { type: p.CKA_EC_PARAMS, value: derOid(curve.oid) }];
    } else {
      mechanism = { mechanism: p.CKM_RSA_PKCS_KEY_PAIR_GEN };
      pub = [
        ...common,
        { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
        { type: p.CKA_VERIFY, value: true },
        { type: p.CKA_ENCRYPT, value: false },
        { type: p.CKA_MODULUS_BITS, value: Number(alg.slice(3)) },
        { type: p.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
      ];
    }
    // on the thread pool: an RSA 4096 generation takes seconds and must not stop the event loop
    const pair = await this.token.runAsync((lib, s) => lib.C_GenerateKeyPairAsync(s, mechanism, pub, priv));
    const publicKey = readPublicKey(this.token, pair.publicKey);
    const reference = id.toString("hex");
    const key = new Pkcs11SigningKey(this.token, reference, pair.privateKey, alg, publicKey);
    this.keys.set(reference, key);
    return { signingKey: key, pkcs8: null, reference };
  }

  /**
   * Imports an existing private key (ImportCertificateAuthority with key
   * storage PKCS#11): created in the token sensitive and non-extractable
   * (PKCS#11 v2.40 §4.9), with a public key object beside it.
   */
  importKey(privateKey: KeyObject, label: string): GeneratedKey {
    const p = this.token.p;
    const publicKey = createPublicKey(privateKey);
    const alg = keyAlgorithmOf(publicKey);
    if (!alg) throw SigilError.badPublicKey("CA keys must be P-256, P-384, RSA 2048, RSA 3072 or RSA 4096");
    const jwk = privateKey.export({ format: "jwk" });
    const id = randomBytes(16);
    const b = (v: string | undefined): Buffer => Buffer.from(v ?? "", "base64url");
    const common = [
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_ID, value: id },
      { type: p.CKA_LABEL, value: label },
    ];
    const curve = CURVES[alg];
    let priv: Pkcs11Types.Template;
    let pub: Pkcs11Types.Template;
    if (curve) {
      const params = derOid(curve.oid);
      const point = Buffer.concat([Buffer.from([0x04]), b(jwk.x).subarray(0), b(jwk.y)]);
      priv = [...common, { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_EC }, { type: p.CKA_EC_PARAMS, value: params }, { type: p.CKA_VALUE, value: b(jwk.d) }];
      // CKA_EC_POINT: DER OCTET STRING of the uncompressed point (PKCS#11 v2.40 §2.3.3)
      pub = [...common, { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_EC }, { type: p.CKA_EC_PARAMS, value: params }, { type: p.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, point.length]), point]) }];
    } else {
      priv = [
        ...common,
        { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_RSA },
        { type: p.CKA_MODULUS, value: b(jwk.n) },
        { type: p.CKA_PUBLIC_EXPONENT, value: b(jwk.e) },
        { type: p.CKA_PRIVATE_EXPONENT, value: b(jwk.d) },
        { type: p.CKA_PRIME_1, value: b(jwk.p) },
        { type: p.CKA_PRIME_2, value: b(jwk.q) },
        { type: p.CKA_EXPONENT_1, value: b(jwk.dp) },
        { type: p.CKA_EXPONENT_2, value: b(jwk.dq) },
        { type: p.CKA_COEFFICIENT, value: b(jwk.qi) },
      ];
      pub = [...common, { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_RSA }, { type: p.CKA_MODULUS, value: b(jwk.n) }, { type: p.CKA_PUBLIC_EXPONENT, value: b(jwk.e) }, { type: p.CKA_VERIFY, value: true }];
    }
    priv.push(
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_EXTRACTABLE, value: false },
      { type: p.CKA_SIGN, value: true },
    );
    const handle = this.token.run((lib, s) => {
      const h = lib.C_CreateObject(s, priv);
      try {
        lib.C_CreateObject(s, pub);
      } catch (e) {
        lib.C_DestroyObject(s, h);
        throw e;
      }
      return h;
    });
    const reference = id.toString("hex");
    const key = new Pkcs11SigningKey(this.token, reference, handle, alg, publicKey);
    this.keys.set(reference, key);
    return { signingKey: key, pkcs8: null, reference };
  }

  /** The key with this reference (CKA_ID hex), found in the token (once per process). */
  open(stored: StoredKey): SigningKey {
    if (stored.storage !== "pkcs11") throw SigilError.internal(`the PKCS#11 key store cannot open a ${stored.storage} key`);
    const hit = this.keys.get(stored.reference);
    if (hit) return hit;
    if (!/^[0-9a-f]{2,256}$/.test(stored.reference) || stored.reference.length % 2 !== 0) {
      throw SigilError.internal("a PKCS#11 key reference is the CKA_ID in hex");
    }
    const id = Buffer.from(stored.reference, "hex");
    const handle = findObject(this.token, this.token.p.CKO_PRIVATE_KEY, id);
    const publicKey = readPublicKey(this.token, findObject(this.token, this.token.p.CKO_PUBLIC_KEY, id));
    const alg = keyAlgorithmOf(publicKey);
    if (!alg) throw SigilError.failedPrecondition(`the PKCS#11 key ${stored.reference} is not a P-256, P-384 or RSA 2048-4096 key`);
    const key = new Pkcs11SigningKey(this.token, stored.reference, handle, alg, publicKey);
    this.keys.set(stored.reference, key);
    return key;
  }

  /** Destroys a generated pair whose CA row never committed (both objects, by CKA_ID). */
  discard(generated: GeneratedKey): void {
    if (!generated.reference) return;
    const id = Buffer.from(generated.reference, "hex");
    this.keys.delete(generated.reference);
    for (const cls of [this.token.p.CKO_PRIVATE_KEY, this.token.p.CKO_PUBLIC_KEY]) {
      try {
        const h = findObject(this.token, cls, id);
        this.token.run((lib, s) => lib.C_DestroyObject(s, h));
      } catch {
        // already gone
      }
    }
  }

  close(): void {
    this.keys.clear();
    this.token.close();
  }
}

/** Whether a signing key is held by a PKCS#11 token (and can sign off the event loop). */
export function isPkcs11Key(key: SigningKey): key is SigningKey & { signAsync(data: Buffer): Promise<Buffer>; reference: string } {
  return key instanceof Pkcs11SigningKey;
}
