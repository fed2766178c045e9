/**
 * What the account-bound DNS challenges add to a validation request
 * (draft-ietf-acme-dns-account-label dns-account-01, draft-ietf-acme-dns-persist-02
 * dns-persist-01): the account URL, built as the ACME front end's Linker
 * builds it, and for dns-persist-01 the issuer domain names, the
 * accountHashPrefix, every key the account has used and the wildcard flag.
 */
import { findDnsChallengeSubject } from "../../db/store/acme-dns-challenges.js";
import { acmeAccountUrl, dnsPersistAccountHashPrefix, dnsPersistIssuerDomainNames } from "../../policy/dns-challenges.js";
import { DNS_PERSIST_MAX_KEYS } from "../../validation/dnspersist01.js";
import type { ValidationOutcome, ValidationRequest } from "../../validation/types.js";
import type { RaContext } from "../context.js";
import type { ChallengeJob } from "./validation.js";

/** the extra request fields, or the outcome when the validation must not run */
export type AccountBoundFields = { fields: Pick<ValidationRequest, "accountUrl" | "persist"> } | { refused: Exclude<ValidationOutcome, { status: "deferred" }> };

/** the base of every ACME URL (SIGIL_ACME_URL, default SIGIL_PUBLIC_URL), as src/acme/router.ts gives the Linker */
export function acmeBase(ctx: Pick<RaContext, "acmeUrl" | "publicUrl">): string {
  return ctx.acmeUrl ?? ctx.publicUrl;
}

/** The fields of `job`'s validation request that dns-account-01 and dns-persist-01 need ({} for the other types). */
export async function accountBoundFields(ctx: RaContext, job: ChallengeJob): Promise<AccountBoundFields> {
  if (job.type !== "dns-account-01" && job.type !== "dns-persist-01") return { fields: {} };
  const subject = await findDnsChallengeSubject(ctx.store, job.authorizationId);
  // the authorization went away meanwhile (its account was deleted with its directory)
  if (!subject) return { refused: { status: "invalid", error: { type: "unauthorized", detail: "the authorization no longer exists" } } };
  const base = acmeBase(ctx);
  const accountUrl = acmeAccountUrl(base, subject.directoryName, job.accountId);
  if (job.type === "dns-account-01") return { fields: { accountUrl } };
  // draft-ietf-acme-dns-persist-02 §4.2 rule 1: "A CA MUST NOT accept a hashed URI computed from a key of a
  // deactivated ACME account ... The CA MUST evaluate account status from live account state at each validation attempt"
  if (subject.accountStatus !== "valid") {
    return { refused: { status: "invalid", error: { type: "unauthorized", detail: `the account is ${subject.accountStatus}` } } };
  }
  return {
    fields: {
      accountUrl,
      persist: {
        issuerDomainNames: dnsPersistIssuerDomainNames(subject.caaIdentities, base),
        accountHashPrefix: dnsPersistAccountHashPrefix(base, subject.directoryName),
        // §4.2 "the CA MUST evaluate the account's current key first, and SHOULD evaluate remaining retained keys in reverse chronological order";
        // at most DNS_PERSIST_MAX_KEYS of them (src/validation/dnspersist01.ts: why)
        keyThumbprints: [job.keyThumbprint, ...subject.priorThumbprints.filter((t) => t !== job.keyThumbprint)].slice(0, DNS_PERSIST_MAX_KEYS),
        wildcard: subject.wildcard,
      },
    },
  };
}

/**
 * The expiry of an authorization a validation made valid: the usual one, but
 * never past the record's persistUntil (draft-ietf-acme-dns-persist-02 §4.1
 * "the CA MUST NOT set the expires field of the resulting authorization
 * object ... later than T").
 */
export function clampAuthzExpires(usual: Date, notAfter: Date | undefined): Date {
  return notAfter && notAfter.getTime() < usual.getTime() ? notAfter : usual;
}
