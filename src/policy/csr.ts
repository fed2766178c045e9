/**
 * CSR rules for ACME finalize (RFC 8555 §7.4), pure: the CSR must name
 * exactly the order's identifiers; the CN, if present, must be one of them;
 * no CA:TRUE; no email names.
 */
import type { ParsedCsr } from "../ca/csr.js";
import { SigilError } from "../core/errors.js";
import type { Identifier } from "../core/types.js";

export const CSR_POLICY_MESSAGES = {
  requestsCa: "CSR requests a CA certificate (basicConstraints cA=TRUE)",
  emails: "CSR contains email addresses, which ACME orders cannot authorize",
  extraName: (n: string) => `CSR names ${n}, which is not in the order`,
  missingName: (n: string) => `CSR does not name ${n}, which is in the order`,
  cnNotInOrder: (cn: string) => `CSR common name "${cn}" is not one of the order's identifiers`,
} as const;

/**
 * Checks a parsed CSR against an order's identifiers; throws
 * SigilError.badCsr. CN-only names count as names (RFC 8555 §7.4: the CSR
 * names are the SANs plus the CN).
 */
export function checkCsrAgainstOrder(csr: ParsedCsr, identifiers: readonly Identifier[]): void {
  if (csr.requestsCa) throw SigilError.badCsr(CSR_POLICY_MESSAGES.requestsCa);
  if (csr.emails.length) throw SigilError.badCsr(CSR_POLICY_MESSAGES.emails);
  const want = new Set(identifiers.map((i) => `${i.type}:${i.value.toLowerCase()}`));
  const have = new Set<string>([...csr.dnsNames.map((n) => `dns:${n}`), ...csr.ipAddresses.map((n) => `ip:${n}`)]);
  if (csr.commonName !== undefined) {
    const cn = csr.commonName.toLowerCase();
    const asDns = `dns:${cn}`;
    const asIp = `ip:${cn}`;
    if (!want.has(asDns) && !want.has(asIp)) throw SigilError.badCsr(CSR_POLICY_MESSAGES.cnNotInOrder(csr.commonName));
    if (!have.has(asDns) && !have.has(asIp)) have.add(want.has(asDns) ? asDns : asIp);
  }
  for (const h of have) if (!want.has(h)) throw SigilError.badCsr(CSR_POLICY_MESSAGES.extraName(h.slice(h.indexOf(":") + 1)));
  for (const w of want) if (!have.has(w)) throw SigilError.badCsr(CSR_POLICY_MESSAGES.missingName(w.slice(w.indexOf(":") + 1)));
}
