/**
 * RFC 8555 §7 request payloads, decoded and validated at the edge: one small
 * decoder per route turns the JWS payload into a typed value, so the handlers
 * and ra/ never see an arbitrary JSON value. Decoders check the SHAPE (types,
 * required members); the RULES (contact policy, identifier policy, key
 * policy, revocation reasons) stay in ra/ and policy/.
 *
 * Fields a decoder does not name are ignored (RFC 8555 §7.1: "clients and
 * servers MUST ignore unrecognized fields"); an optional member that is JSON
 * null counts as absent (as Boulder's and Pebble's JSON decoding does).
 */
import { acmeErr } from "../ra/acme/errors.js";

/** The signed body of an authenticated request: POST-as-GET (§6.3, empty payload) or a decoded JSON payload. */
export type RequestBody = { postAsGet: true } | { postAsGet: false; payload: unknown };

/** a flattened JWS (RFC 7515 §7.2.2) carried inside a payload (EAB §7.3.4, keyChange §7.3.5) */
export interface FlattenedJwsValue {
  protected: string;
  payload: string;
  signature: string;
}

/** §7.3 newAccount */
export interface NewAccountPayload {
  contact?: string[];
  termsOfServiceAgreed?: boolean;
  onlyReturnExisting?: boolean;
  externalAccountBinding?: FlattenedJwsValue;
}

/** §7.3.2 account update, §7.3.6 deactivation */
export interface AccountUpdatePayload {
  contact?: string[];
  status?: "deactivated";
  termsOfServiceAgreed?: boolean;
}

/** §7.1.3 / §9.7.7 identifier */
export interface IdentifierValue {
  type: string;
  value: string;
}

/** §7.4 newOrder */
export interface NewOrderPayload {
  identifiers: IdentifierValue[];
  notBefore?: string;
  notAfter?: string;
  /** RFC 9773 §5: the certID of the certificate this order replaces */
  replaces?: string;
  /** draft-ietf-acme-profiles-00 §4: the profile the client selects (a meta.profiles name) */
  profile?: string;
}

/** §7.4 finalize: the CSR as DER */
export interface FinalizePayload {
  csr: Buffer;
}

/** §7.5.2 authorization deactivation */
export interface AuthzUpdatePayload {
  status: "deactivated";
}

/** §7.6 revokeCert */
export interface RevokeCertPayload {
  certificate: Buffer;
  /** RFC 5280 §5.3.1 reason code; ra/ decides which ones are accepted */
  reason?: unknown;
}

/** §7.3.5 keyChange: the outer payload is the inner JWS */
export type KeyChangePayload = FlattenedJwsValue;

export const PAYLOAD_MESSAGES = {
  nul: (what: string) => `${what} contains U+0000 or an unpaired UTF-16 surrogate, which no text field may hold`,
  needsObject: (what: string) => `${what} needs a JSON object payload`,
} as const;

const B64URL = /^[A-Za-z0-9_-]+$/;

/** a high surrogate not followed by a low one, or a low one not preceded by a high one */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** text PostgreSQL can store: no U+0000, no unpaired surrogate */
function storableText(s: string): boolean {
  return !s.includes("\u0000") && !LONE_SURROGATE.test(s);
}

/**
 * Refuses U+0000 anywhere in a decoded JSON value (strings and member names):
 * PostgreSQL text and jsonb cannot store it, so it reached the database as a
 * 500. The same for an unpaired surrogate ("\ud800" is valid JSON but not
 * Unicode text). Iterative, so a deeply nested payload cannot overflow the
 * stack.
 */
export function assertNoNul(value: unknown, what: string): void {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (!storableText(v)) throw acmeErr.malformed(PAYLOAD_MESSAGES.nul(what));
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (!storableText(k)) throw acmeErr.malformed(PAYLOAD_MESSAGES.nul(what));
        stack.push(x);
      }
    }
  }
}

/** base64url-encoded JSON (a JWS part), with the U+0000 check */
export function decodeB64Json(s: string, what: string): unknown {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw acmeErr.malformed(`${what} is not base64url`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, "base64url").toString("utf8"));
  } catch {
    throw acmeErr.malformed(`${what} is not base64url-encoded JSON`);
  }
  assertNoNul(v, what);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** the payload as a JSON object; `nullIsEmpty` for routes where Boulder reads a null payload as {} */
function objectPayload(body: RequestBody, what: string, nullIsEmpty = false): Record<string, unknown> {
  if (body.postAsGet) throw acmeErr.malformed(PAYLOAD_MESSAGES.needsObject(what));
  if (nullIsEmpty && body.payload === null) return {};
  if (!isObject(body.payload)) throw acmeErr.malformed(PAYLOAD_MESSAGES.needsObject(what));
  return body.payload;
}

function optBoolean(o: Record<string, unknown>, field: string): boolean | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw acmeErr.malformed(`${field} must be a boolean`);
  return v;
}

function optString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw acmeErr.malformed(`${field} must be a string`);
  return v;
}

/** §7.3: contact is an array of URL strings (ra/ decides which URLs are acceptable) */
function optContact(o: Record<string, unknown>): string[] | undefined {
  const v = o.contact;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw acmeErr.malformed("contact must be an array of URLs");
  if (v.some((c) => typeof c !== "string")) throw acmeErr.malformed("contact entries must be strings");
  return v as string[];
}

function flattenedJws(v: unknown, what: string): FlattenedJwsValue {
  if (!isObject(v)) throw acmeErr.malformed(`${what} must be a JWS object`);
  const { protected: p, payload, signature } = v;
  if (typeof p !== "string" || typeof payload !== "string" || typeof signature !== "string" || "signatures" in v) {
    throw acmeErr.malformed(`${what} must be a flattened JWS`);
  }
  return { protected: p, payload, signature };
}

function base64urlDer(v: unknown, what: string): Buffer {
  if (typeof v !== "string" || !B64URL.test(v)) throw acmeErr.malformed(`${what}: base64url DER`);
  return Buffer.from(v, "base64url");
}

/** §7.3 newAccount (a null payload reads as {}) */
export function decodeNewAccount(body: RequestBody): NewAccountPayload {
  const o = objectPayload(body, "newAccount", true);
  const eab = o.externalAccountBinding;
  return {
    contact: optContact(o),
    termsOfServiceAgreed: optBoolean(o, "termsOfServiceAgreed"),
    onlyReturnExisting: optBoolean(o, "onlyReturnExisting"),
    externalAccountBinding: eab === undefined || eab === null ? undefined : flattenedJws(eab, "externalAccountBinding"),
  };
}

/** §7.3.2 / §7.3.6; undefined for POST-as-GET (a read) */
export function decodeAccountUpdate(body: RequestBody): AccountUpdatePayload | undefined {
  if (body.postAsGet) return undefined;
  const o = objectPayload(body, "an account update", true);
  const status = o.status;
  if (status !== undefined && status !== null && status !== "deactivated") throw acmeErr.malformed('status may only be set to "deactivated"');
  return {
    contact: optContact(o),
    termsOfServiceAgreed: optBoolean(o, "termsOfServiceAgreed"),
    ...(status === "deactivated" ? { status } : {}),
  };
}

/**
 * §7.4 newOrder. DNS names are compared case-insensitively and an identifier
 * named twice is kept once (as Boulder does), so `A.example` and `a.example`
 * make one authorization rather than a refusal.
 */
export function decodeNewOrder(body: RequestBody): NewOrderPayload {
  const o = objectPayload(body, "newOrder");
  const raw = o.identifiers;
  if (!Array.isArray(raw)) throw acmeErr.malformed("newOrder needs identifiers: an array of {type, value}");
  const seen = new Set<string>();
  const identifiers: IdentifierValue[] = [];
  for (const item of raw) {
    if (!isObject(item) || typeof item.type !== "string" || typeof item.value !== "string") {
      throw acmeErr.malformed("identifier needs string type and value");
    }
    const id: IdentifierValue = { type: item.type, value: item.type === "dns" ? item.value.toLowerCase() : item.value };
    const key = `${id.type}\u0000${id.value.toLowerCase()}`;
    if (seen.has(key)) continue;
    seen.add(key);
    identifiers.push(id);
  }
  return { identifiers, notBefore: optString(o, "notBefore"), notAfter: optString(o, "notAfter"), replaces: optString(o, "replaces"), profile: optString(o, "profile") };
}

/** §7.4 finalize */
export function decodeFinalize(body: RequestBody): FinalizePayload {
  const o = objectPayload(body, "finalize");
  return { csr: base64urlDer(o.csr, "finalize needs csr") };
}

/** §7.5.1: the client POSTs {} to start validation; members are ignored (Boulder also accepts null) */
export function decodeChallengeResponse(body: RequestBody): "read" | "respond" {
  if (body.postAsGet) return "read";
  objectPayload(body, "a challenge response", true);
  return "respond";
}

/** §7.5.2: POST-as-GET reads; otherwise the only update is status "deactivated" */
export function decodeAuthzUpdate(body: RequestBody): AuthzUpdatePayload | undefined {
  if (body.postAsGet) return undefined;
  const o = objectPayload(body, "an authorization update");
  if (o.status !== "deactivated") throw acmeErr.malformed('an authorization update may only set status "deactivated"');
  return { status: "deactivated" };
}

/** §7.6 revokeCert */
export function decodeRevokeCert(body: RequestBody): RevokeCertPayload {
  const o = objectPayload(body, "revokeCert");
  const reason = o.reason === null ? undefined : o.reason;
  return { certificate: base64urlDer(o.certificate, "revokeCert needs certificate"), ...(reason !== undefined ? { reason } : {}) };
}

/**
 * §7.3.5 keyChange: the payload is a flattened JWS (the inner JWS, which
 * ra/acme/inner-jws.ts verifies). Its decoded header and payload get the
 * U+0000 check here, like every other text the client sends.
 */
export function decodeKeyChange(body: RequestBody): KeyChangePayload {
  if (body.postAsGet) throw acmeErr.malformed("keyChange payload must be a JWS");
  const jws = flattenedJws(body.payload, "keyChange payload");
  for (const [part, what] of [
    [jws.protected, "keyChange inner JWS header"],
    [jws.payload, "keyChange inner JWS payload"],
  ] as const) {
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    } catch {
      continue; // not JSON: the inner JWS verifier answers malformed with its own message
    }
    assertNoNul(v, what);
  }
  return jws;
}
