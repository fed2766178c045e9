/**
 * tls-alpn-01 (RFC 8737; IP identifiers RFC 8738 §6).
 *
 * TLS to {address}:{tlsPort} with SNI = the domain (for an IP identifier its
 * reverse-mapping name) offering only ALPN "acme-tls/1". The server must
 * select acme-tls/1 and present a certificate whose subjectAltName holds
 * exactly the identifier, with a critical acmeIdentifier extension whose
 * value is the SHA-256 digest of the key authorization.
 */
import { createHash, timingSafeEqual, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { allowedTargets, fail, ipToBytes, networkFailure, quoteShort, resolveAddresses, reverseName, urlHost, VALID, type CheckContext, type CheckResult } from "./common.js";
import type { TlsDialResult } from "./network.js";
import type { ValidationRequest } from "./types.js";

/** RFC 8737 §6.2: the ALPN protocol name. */
export const ACME_TLS_ALPN = "acme-tls/1";
/** RFC 8737 §6.1: id-pe-acmeIdentifier. */
export const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";
const SAN_OID = "2.5.29.17";

/** RFC 8737 §3: the acmeIdentifier value, SHA-256 of the key authorization. */
export function tlsAlpn01Digest(keyAuthorization: string): Buffer {
  return createHash("sha256").update(keyAuthorization, "utf8").digest();
}

export async function checkTlsAlpn01(req: ValidationRequest, ctx: CheckContext): Promise<CheckResult> {
  const { type, value } = req.identifier;
  // RFC 8738 §6: SNI for an IP identifier is the reverse-mapping name
  const servername = type === "ip" ? reverseName(value) : value;
  const resolved = type === "ip" ? [value] : await resolveAddresses(ctx.resolver, value);
  if (!Array.isArray(resolved)) return resolved;
  // RFC 8555 §10.2: judge every address before dialling; the dialer connects to exactly that address
  const addrs = allowedTargets(ctx.networkPolicy, resolved, `Connecting to ${value} for tls-alpn-01`);
  if (!Array.isArray(addrs)) return addrs;
  let firstFailure: CheckResult | undefined;
  for (const address of addrs) {
    const where = `${urlHost(address)}:${ctx.tlsPort}`;
    let hello: TlsDialResult;
    try {
      hello = await ctx.dialer.dial({ address, port: ctx.tlsPort, servername, alpnProtocols: [ACME_TLS_ALPN], timeoutMs: ctx.timeoutMs, signal: ctx.signal });
    } catch (e) {
      const r = networkFailure(e, `Connecting to ${where} for tls-alpn-01 (SNI ${servername})`);
      if (r.outcome.status === "invalid" && r.outcome.error.type !== "connection") return r;
      firstFailure ??= r;
      continue;
    }
    return checkHandshake(req, hello, where);
  }
  return firstFailure ?? fail("connection", `No address to connect to for ${value}`);
}

/** Checks the negotiated protocol and the validation certificate (RFC 8737 §3). */
export function checkHandshake(req: ValidationRequest, hello: TlsDialResult, where: string): CheckResult {
  const { type, value } = req.identifier;
  // RFC 8737 §3: the server MUST negotiate acme-tls/1
  if (hello.alpnProtocol !== ACME_TLS_ALPN) {
    return fail("tls", `Cannot negotiate ALPN protocol "${ACME_TLS_ALPN}" for tls-alpn-01 challenge at ${where} (got ${hello.alpnProtocol === null ? "none" : quoteShort(hello.alpnProtocol)})`, false);
  }
  let cert: pkijs.Certificate;
  let shownNames: string;
  try {
    shownNames = new X509Certificate(hello.certificateDer).subjectAltName ?? "no subjectAltName";
    cert = pkijs.Certificate.fromBER(hello.certificateDer);
  } catch {
    return fail("unauthorized", `The tls-alpn-01 certificate presented at ${where} could not be parsed`);
  }
  const bad = (why: string): CheckResult => fail("unauthorized", `Incorrect validation certificate for tls-alpn-01 challenge at ${where}: ${why}`);
  const extensions = cert.extensions ?? [];

  // RFC 8737 §3: "The subjectAltName extension [contains] the dNSName being validated and no other entries"
  // (RFC 8738 §6: the iPAddress for an IP identifier).
  const sans = extensions.filter((e) => e.extnID === SAN_OID);
  if (sans.length !== 1) return bad(sans.length === 0 ? "no subjectAltName extension" : "more than one subjectAltName extension");
  let names: pkijs.GeneralName[];
  try {
    names = pkijs.AltName.fromBER(sans[0]!.extnValue.valueBlock.valueHexView).altNames;
  } catch {
    return bad("unparsable subjectAltName extension");
  }
  const requested = type === "ip" ? `IP ${value}` : `DNS ${value}`;
  if (names.length !== 1 || !sanMatches(names[0]!, req)) {
    return bad(`requested ${requested}, the certificate names ${quoteShort(shownNames, 128)} (it must name exactly the identifier)`);
  }

  // RFC 8737 §3: the acmeIdentifier extension MUST be present and critical
  const ids = extensions.filter((e) => e.extnID === ACME_IDENTIFIER_OID);
  if (ids.length === 0) return bad(`missing the acmeIdentifier extension (${ACME_IDENTIFIER_OID})`);
  if (ids.length > 1) return bad("more than one acmeIdentifier extension");
  const ext = ids[0]!;
  if (!ext.critical) return bad("the acmeIdentifier extension is not critical");

  // RFC 8737 §6.1: Authorization ::= OCTET STRING (SIZE (32)), inside the extnValue OCTET STRING
  const inner = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView);
  if (inner.offset === -1 || !(inner.result instanceof asn1js.OctetString) || inner.result.idBlock.isConstructed) {
    return bad("the acmeIdentifier extension value is not an OCTET STRING");
  }
  const digest = Buffer.from(inner.result.valueBlock.valueHexView);
  const expected = tlsAlpn01Digest(req.keyAuthorization);
  if (digest.length !== expected.length || !timingSafeEqual(digest, expected)) {
    return fail("incorrectResponse", `Incorrect validation certificate for tls-alpn-01 challenge at ${where}: the acmeIdentifier extension value does not match the key authorization`);
  }
  return VALID;
}

function sanMatches(name: pkijs.GeneralName, req: ValidationRequest): boolean {
  const { type, value } = req.identifier;
  if (type === "dns") {
    // GeneralName dNSName [2] IA5String; DNS names compare case-insensitively
    return name.type === 2 && typeof name.value === "string" && name.value.toLowerCase() === value.toLowerCase();
  }
  // GeneralName iPAddress [7] OCTET STRING (RFC 5280 §4.2.1.6)
  if (name.type !== 7 || !(name.value instanceof asn1js.OctetString)) return false;
  const want = ipToBytes(value);
  const got = Buffer.from(name.value.valueBlock.valueHexView);
  return want !== undefined && want.equals(got);
}
