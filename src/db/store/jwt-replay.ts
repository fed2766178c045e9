/**
 * The jwt_bearer_jtis table: the jti of every JWT a service account signed
 * and Sigil accepted (RFC 7523 §3 item 7, RFC 7519 §4.1.7), kept until the
 * JWT's own exp so it is never accepted twice, by any instance. Recording
 * is one statement, atomic under concurrency: INSERT ... ON CONFLICT DO
 * NOTHING RETURNING tells the one caller that inserted the row from every
 * replay (a racing second use finds the conflict and gets no row). The
 * same statement first deletes a bounded batch of expired rows, so the
 * table holds only live JWTs (at most 5 minutes plus skew of them).
 */
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** the columns RECORD writes (table jwt_bearer_jtis) */
export const JWT_BEARER_JTI_COLUMNS = ["service_account_id", "jti", "expires_at"] as const;

/** Expired rows removed by one recording statement (through the expires_at index). */
export const JTI_PRUNE_BATCH = 100;

const RECORD = statement(
  "sigil_jwt_bearer_jtis_record",
  `with pruned as (
     delete from jwt_bearer_jtis where ctid in (select ctid from jwt_bearer_jtis where expires_at <= $4 order by expires_at limit ${JTI_PRUNE_BATCH} for update skip locked)
   )
   insert into jwt_bearer_jtis (service_account_id, jti, expires_at) values ($1, $2, $3)
   on conflict (service_account_id, jti) do nothing
   returning jti`,
);

/**
 * Records that `jti` of `serviceAccountId` was accepted, valid until
 * `expiresAt`; false when it was recorded before (a replay). `now` prunes
 * rows whose JWT has expired.
 */
export async function recordJwtId(s: Session, row: { serviceAccountId: string; jti: string; expiresAt: Date }, now: Date): Promise<boolean> {
  const rows = await sqlOf(s).query<{ jti: string }>(RECORD, [row.serviceAccountId, row.jti, row.expiresAt, now]);
  return rows.length === 1;
}
