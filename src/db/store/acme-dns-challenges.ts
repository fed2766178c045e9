/**
 * What the account-bound DNS challenges need beyond a validation job
 * (draft-ietf-acme-dns-account-label: the account URL, so the directory's
 * name; draft-ietf-acme-dns-persist-02: the issuer domain names, the
 * wildcard flag, the account's live status and every key it has used).
 *
 * One statement by primary keys: the authorization, its account, the
 * account's directory, and the account's most recent earlier key
 * thumbprints (PRIOR_THUMBPRINTS_MAX, by an index), which the
 * audit log keeps (RFC 8555 §7.3.5 key changes are audited with
 * oldThumbprint, src/ra/acme/accounts.ts) -- draft-ietf-acme-dns-persist-02
 * §4.2 "a CA ... MUST retain an association between each ACME account and
 * the SHA-256 JWK Thumbprints of all public keys that account has used".
 */
import type { AcmeAccountStatus } from "../../core/types.js";
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

export interface DnsChallengeSubject {
  /** the account's directory name (the account URL is `{acme}/acme/{name}/acct/{id}`) */
  directoryName: string;
  /** the directory's meta.caaIdentities (normalized by the directory policy) */
  caaIdentities: string[];
  /** the authorization is for "*.{identifier}" (RFC 8555 §7.1.3) */
  wildcard: boolean;
  /** the account's status now (draft-ietf-acme-dns-persist-02 §4.2 rule 1) */
  accountStatus: AcmeAccountStatus;
  /** thumbprints of keys the account used before its current one, newest first (§4.2: "in reverse chronological order"), at most PRIOR_THUMBPRINTS_MAX */
  priorThumbprints: string[];
}

const SUBJECT = statement(
  "sigil_acme_dns_challenge_subject",
  `select d.name directory_name, d.caa_identities, a.wildcard, acc.status account_status,
          array(select l.detail->>'oldThumbprint'
                  from audit_log l
                 where l.action = 'acme_account_key_change' and l.resource_id = acc.id::text and l.resource_type = 'acme_account'
                 order by l.created_at desc
                 limit $2) prior_thumbprints
     from acme_authorizations a join acme_accounts acc on acc.id = a.account_id join acme_directories d on d.id = acc.directory_id
    where a.id = $1`,
);

/**
 * The earlier keys read at most (the current one makes 16,
 * DNS_PERSIST_MAX_KEYS in src/validation/dnspersist01.ts): the newest key
 * changes of the account, by the partial index audit_log_acme_key_change_index
 * (resource_id, created_at) where action = 'acme_account_key_change'
 * (migration 20261202185000), so neither the read nor its size grows with
 * the audit log or with the account's key changes.
 */
export const PRIOR_THUMBPRINTS_MAX = 15;

/** The subject of an authorization's account-bound DNS challenge; undefined if the authorization is gone. */
export async function findDnsChallengeSubject(s: Session, authorizationId: string): Promise<DnsChallengeSubject | undefined> {
  const [r] = await sqlOf(s).query<{
    directory_name: string;
    caa_identities: string[];
    wildcard: boolean;
    account_status: AcmeAccountStatus;
    prior_thumbprints: (string | null)[];
  }>(SUBJECT, [authorizationId, PRIOR_THUMBPRINTS_MAX]);
  return (
    r && {
      directoryName: r.directory_name,
      caaIdentities: r.caa_identities ?? [],
      wildcard: r.wildcard,
      accountStatus: r.account_status,
      priorThumbprints: [...new Set((r.prior_thumbprints ?? []).filter((t): t is string => typeof t === "string" && t.length > 0))],
    }
  );
}

/** every statement of this module, for tests that check their plans */
export const ACME_DNS_CHALLENGE_STATEMENTS = { subject: SUBJECT } as const;
