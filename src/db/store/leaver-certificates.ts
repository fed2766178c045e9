/**
 * Which certificates a leaving user takes with it (issue 13 item 2): the
 * valid, unexpired leaf certificates (server, client, dual; never a CA's or
 * the OCSP responder's own) that the user requested (creator_id), or that
 * were issued in the user's organization naming the user's email (any case)
 * in their subjectAltName. ra/users.ts revokes them.
 */
import { statement } from "../sql.js";
import { sqlOf, type TxSession } from "./session.js";

const LEAVER_CERTIFICATES = statement(
  "sigil_leaver_certificates",
  `select id from certificates
    where status = 'valid' and not_after > $4 and type in ('server', 'client', 'dual')
      and (creator_id = $1
           or ($3::uuid is not null and organization_id = $3::uuid and $2::text is not null
               and exists (select 1 from jsonb_array_elements_text(emails) as e(address) where lower(e.address) = lower($2::text))))
    order by id`,
);

/** Ids of the certificates to revoke when the user leaves, in id order (the lock order of the revocations). */
export async function leaverCertificateIds(
  tx: TxSession,
  who: { userId: string; email: string | null; organizationId: string | null; now: Date },
): Promise<string[]> {
  const rows = await sqlOf(tx).query<{ id: string }>(LEAVER_CERTIFICATES, [who.userId, who.email, who.organizationId, who.now]);
  return rows.map((r) => r.id);
}
