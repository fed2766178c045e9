/**
 * What a leaving user takes with it (issue 13 item 2, review 2 H2/M5):
 * - certificates: the valid, unexpired leaf certificates (server, client,
 *   dual; never a CA's or the OCSP responder's own) that the user requested
 *   (creator_id, in any organization: ra/users.ts keeps only those of the
 *   organizations the deactivating actor may revoke in, under each one's
 *   own setting), or that were issued in the user's organization naming the
 *   user's email (any case) in their subjectAltName;
 * - unused EAB keys the user created (the user saw their HMAC key);
 * - live API keys the user created (counted only: services run on them).
 */
import { statement } from "../sql.js";
import { sqlOf, type TxSession } from "./session.js";

const LEAVER_CERTIFICATES = statement(
  "sigil_leaver_certificates",
  `select id, organization_id from certificates
    where status = 'valid' and not_after > $4 and type in ('server', 'client', 'dual')
      and (creator_id = $1
           or ($3::uuid is not null and organization_id = $3::uuid and $2::text is not null
               and exists (select 1 from jsonb_array_elements_text(emails) as e(address) where lower(e.address) = lower($2::text))))
    order by id`,
);

/** The certificates to revoke when the user leaves (id and organization), in id order (the lock order of the revocations). */
export async function leaverCertificates(
  tx: TxSession,
  who: { userId: string; email: string | null; organizationId: string | null; now: Date },
): Promise<Array<{ id: string; organizationId: string }>> {
  const rows = await sqlOf(tx).query<{ id: string; organization_id: string }>(LEAVER_CERTIFICATES, [who.userId, who.email, who.organizationId, who.now]);
  return rows.map((r) => ({ id: r.id, organizationId: r.organization_id }));
}

const REVOKE_LEAVER_EAB_KEYS = statement(
  "sigil_revoke_leaver_eab_keys",
  `update acme_eab_keys set revoked_at = $2
    where created_by_id = $1 and used_at is null and revoked_at is null
      and ($3::uuid[] is null or organization_id = any($3::uuid[]))
    returning id, organization_id`,
);

/**
 * Revokes the unused, unrevoked EAB keys the user created, in the given
 * organizations (null: any); returns them. A key being used concurrently is
 * locked by its use (lockEabKeyForUse): this update waits and then skips it.
 */
export async function revokeLeaverEabKeys(
  tx: TxSession,
  userId: string,
  organizationIds: readonly string[] | null,
  now: Date,
): Promise<Array<{ id: string; organizationId: string }>> {
  const rows = await sqlOf(tx).query<{ id: string; organization_id: string }>(REVOKE_LEAVER_EAB_KEYS, [userId, now, organizationIds ? [...organizationIds] : null]);
  return rows.map((r) => ({ id: r.id, organizationId: r.organization_id }));
}

const LEAVER_API_KEYS = statement(
  "sigil_leaver_api_keys",
  `select count(*)::int as n from api_keys where created_by_id = $1 and revoked_at is null and (expires_at is null or expires_at > $2)`,
);

/** How many live API keys the user created (the audit entry of the deactivation names the count). */
export async function countLeaverApiKeys(tx: TxSession, userId: string, now: Date): Promise<number> {
  const rows = await sqlOf(tx).query<{ n: number }>(LEAVER_API_KEYS, [userId, now]);
  return rows[0]?.n ?? 0;
}
