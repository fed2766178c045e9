/**
 * The crls table (each CA's current CRL, as signed), the CRL number on the
 * CA row, the revocation_generations counters a trigger bumps on every
 * revocation, and the revoked-certificates read a CRL is built from
 * (RFC 5280 §5). The numbering and due rules are described in
 * src/ra/crl.ts; this module runs their statements on the session given.
 */
import { statement } from "../sql.js";
import { sqlOf, type OrmTx, type Session } from "./session.js";

/**
 * The CRL of CA `a` (joined as `c` from crls, `g` from revocation_generations)
 * is due: none yet; not expired and old or near its nextUpdate; or behind the
 * CA's revocations. Parameters $1 now, $2 now - reissueAfter, $3 now + reissueAfter.
 */
const DUE = `(c.ca_id is null
  or (a.not_after > $1 and (c.this_update < $2 or c.next_update < $3))
  or coalesce(g.generation, 0) > c.revocation_generation)`;
const DUE_FROM = `certificate_authorities a left join crls c on c.ca_id = a.id left join revocation_generations g on g.ca_id = a.id`;

/** Sigil signs the CA's CRLs: not a pending CA (no certificate yet), not an offline-key CA (its CRL is imported) */
const SIGNS_OWN_CRL = `a.status <> 'pending_activation' and not a.offline_key`;
const DUE_ALL = statement("sigil_crls_due", `select a.id from ${DUE_FROM} where ${SIGNS_OWN_CRL} and ${DUE}`);
const DUE_ONE = statement("sigil_crls_due_one", `select a.id from ${DUE_FROM} where a.id = $4 and ${SIGNS_OWN_CRL} and ${DUE}`);

/** When a CRL counts as due (see DUE). */
export interface DueWindow {
  now: Date;
  reissueAfterMs: number;
}

function dueParams(w: DueWindow): Date[] {
  return [w.now, new Date(w.now.getTime() - w.reissueAfterMs), new Date(w.now.getTime() + w.reissueAfterMs)];
}

/** Ids of the CAs whose CRL is due. */
export async function dueCrlCaIds(s: Session, w: DueWindow): Promise<string[]> {
  return (await sqlOf(s).query<{ id: string }>(DUE_ALL, dueParams(w))).map((r) => r.id);
}

/** Whether one CA's CRL is due (under its row lock, the answer holds until commit). */
export async function isCrlDue(s: Session, caId: string, w: DueWindow): Promise<boolean> {
  return (await sqlOf(s).query(DUE_ONE, [...dueParams(w), caId])).length > 0;
}

const BUMP = statement(
  "sigil_crls_bump_number",
  // RFC 5280 §5.2.3: the increment takes the CA row lock until commit
  `update certificate_authorities set crl_number = crl_number + 1 where id = $1 returning crl_number`,
);

/** The CA's next CRL number (undefined when there is no such CA); its row stays locked until commit. */
export async function nextCrlNumber(tx: OrmTx, caId: string): Promise<bigint | undefined> {
  const [r] = await sqlOf(tx).query<{ crl_number: string | number }>(BUMP, [caId]);
  return r ? BigInt(r.crl_number) : undefined;
}

const PREVIOUS = statement("sigil_crls_previous_this_update", `select this_update from crls where ca_id = $1`);

/** thisUpdate of the CA's stored CRL, if any. */
export async function storedCrlThisUpdate(s: Session, caId: string): Promise<Date | undefined> {
  const [r] = await sqlOf(s).query<{ this_update: Date | string }>(PREVIOUS, [caId]);
  return r ? new Date(r.this_update) : undefined;
}

const GENERATION = statement("sigil_revocation_generations_get", `select generation from revocation_generations where ca_id = $1`);

/** How many revocations the CA has had (0 when none). */
export async function revocationGeneration(s: Session, caId: string): Promise<bigint> {
  const [r] = await sqlOf(s).query<{ generation: string | number }>(GENERATION, [caId]);
  return BigInt(r?.generation ?? 0);
}

/**
 * The CA's revoked certificates (RFC 5280 §5.1.2.6 serial, revocation date, reason) as
 * columns, aggregated by PostgreSQL into one row: a million entries travel as three strings instead of a
 * million result rows (each a protocol message, an object, a Date). All three
 * aggregates read the same input stream, so entry i is at position i in each.
 */
export interface RevokedEntryColumns {
  count: number;
  /** lower-case hex serials separated by "," */
  serialsHex: string;
  /** revocation times, whole seconds since the epoch (floor) */
  revokedAtSeconds: Float64Array;
  /** revocation_reason per entry (0..10), 0 also for null or a value outside 0..10 */
  reasons: Uint8Array;
}

const COLUMNS_SELECT = `select count(*)::int as n,
    coalesce(string_agg(serial, ','), '') as serials,
    coalesce(string_agg(floor(date_part('epoch', revoked_at))::int8::text, ','), '') as times,
    coalesce(string_agg(chr(48 + case when revocation_reason between 0 and 10 then revocation_reason else 0 end), ''), '') as reasons
  from certificates`;
const REVOKED_COLUMNS_ALL = statement(
  "sigil_crls_revoked_columns_all",
  // the partial index certificates_revoked_issuer_index
  `${COLUMNS_SELECT} where issuer_id = $1 and status = 'revoked'`,
);
const REVOKED_COLUMNS_SINCE = statement(
  "sigil_crls_revoked_columns_since",
  `${COLUMNS_SELECT} where issuer_id = $1 and status = 'revoked' and (not_after >= $2 or revoked_at > $3)`,
);

/**
 * The CA's revoked certificates (see RevokedEntryColumns); with `since`, only those
 * unexpired at `since.notAfterFrom` or revoked after `since.revokedAfter` (the expiry
 * policy of src/ra/crl.ts).
 */
export async function revokedEntryColumns(s: Session, caId: string, since?: { notAfterFrom: Date; revokedAfter: Date }): Promise<RevokedEntryColumns> {
  type Row = { n: number; serials: string; times: string; reasons: string };
  const [r] = since
    ? await sqlOf(s).query<Row>(REVOKED_COLUMNS_SINCE, [caId, since.notAfterFrom, since.revokedAfter])
    : await sqlOf(s).query<Row>(REVOKED_COLUMNS_ALL, [caId]);
  const n = r?.n ?? 0;
  const revokedAtSeconds = new Float64Array(n);
  const reasons = new Uint8Array(n);
  if (n > 0) {
    // comma-separated integers, parsed in one pass
    const t = r!.times;
    let k = 0;
    let v = 0;
    let neg = false;
    for (let i = 0; i <= t.length; i++) {
      const c = i < t.length ? t.charCodeAt(i) : 0x2c;
      if (c === 0x2c) {
        revokedAtSeconds[k++] = neg ? -v : v;
        v = 0;
        neg = false;
      } else if (c === 0x2d) neg = true;
      else v = v * 10 + (c - 0x30);
    }
    const rs = r!.reasons;
    for (let i = 0; i < n; i++) reasons[i] = rs.charCodeAt(i) - 0x30;
    if (k !== n || rs.length !== n) throw new Error("revoked entry columns differ in length");
  }
  return { count: n, serialsHex: r?.serials ?? "", revokedAtSeconds, reasons };
}

/** A CRL as stored. */
export interface StoredCrlRow {
  caId: string;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Buffer;
  etag: string;
  entryCount: number;
  /** the revocation generation read before the revoked rows */
  revocationGeneration: bigint;
  createdAt: Date;
}

const UPSERT = statement(
  "sigil_crls_upsert",
  `insert into crls (ca_id, crl_number, this_update, next_update, der, etag, entry_count, revocation_generation, created_at)
   values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
   on conflict (ca_id) do update set crl_number = excluded.crl_number, this_update = excluded.this_update,
     next_update = excluded.next_update, der = excluded.der, etag = excluded.etag,
     entry_count = excluded.entry_count, revocation_generation = excluded.revocation_generation,
     created_at = excluded.created_at`,
);

const SET_NUMBER = statement(
  "sigil_crls_set_number",
  // an imported CRL's number (RFC 5280 §5.2.3) becomes the CA's last; only ever upwards
  `update certificate_authorities set crl_number = $2 where id = $1 and crl_number < $2 returning crl_number`,
);

/** Records `crlNumber` (an imported CRL's) as the CA's last CRL number; false when it is not above the stored one. */
export async function raiseCrlNumber(tx: OrmTx, caId: string, crlNumber: bigint): Promise<boolean> {
  return (await sqlOf(tx).query(SET_NUMBER, [caId, crlNumber.toString()])).length > 0;
}

/** Stores the CA's new current CRL, replacing the previous one. */
export async function saveCrl(tx: OrmTx, c: StoredCrlRow): Promise<void> {
  await sqlOf(tx).query(UPSERT, [
    c.caId,
    c.crlNumber.toString(),
    c.thisUpdate,
    c.nextUpdate,
    c.der,
    c.etag,
    c.entryCount,
    c.revocationGeneration.toString(),
    c.createdAt,
  ]);
}

/** A stored CRL without its bytes, with its CA's notAfter. */
export interface CrlMeta {
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  etag: string;
  entryCount: number;
  caNotAfter: Date;
  /** the CA's key is offline: its CRL is imported, never signed here */
  caOfflineKey: boolean;
}

const META = statement(
  "sigil_crls_meta",
  `select c.crl_number, c.this_update, c.next_update, c.etag, c.entry_count, a.not_after as ca_not_after, a.offline_key as ca_offline_key
     from crls c join certificate_authorities a on a.id = c.ca_id where c.ca_id = $1`,
);

/** The metadata of the CA's stored CRL (what a GET needs when its bytes are cached). */
export async function findCrlMeta(s: Session, caId: string): Promise<CrlMeta | undefined> {
  const [m] = await sqlOf(s).query<{
    crl_number: string | number;
    this_update: Date | string;
    next_update: Date | string;
    etag: string;
    entry_count: number;
    ca_not_after: Date | string;
    ca_offline_key: boolean;
  }>(META, [caId]);
  return (
    m && {
      crlNumber: BigInt(m.crl_number),
      thisUpdate: new Date(m.this_update),
      nextUpdate: new Date(m.next_update),
      etag: m.etag,
      entryCount: m.entry_count,
      caNotAfter: new Date(m.ca_not_after),
      caOfflineKey: m.ca_offline_key === true,
    }
  );
}

const DER = statement("sigil_crls_der", `select der, crl_number from crls where ca_id = $1`);

/** The bytes of the CA's stored CRL, with the number they carry. */
export async function findCrlDer(s: Session, caId: string): Promise<{ der: Buffer; crlNumber: bigint } | undefined> {
  const [r] = await sqlOf(s).query<{ der: Buffer; crl_number: string | number }>(DER, [caId]);
  return r && { der: r.der, crlNumber: BigInt(r.crl_number) };
}

const REVOCATION_STATES = statement(
  "sigil_crls_revocation_states",
  `select a.id, a.crl_number, coalesce(g.generation, 0) as generation
     from certificate_authorities a left join revocation_generations g on g.ca_id = a.id
    where a.id = any($1::uuid[])`,
);

/** Per CA: its CRL number and revocation generation (what OCSP caches on every instance poll). */
export async function revocationStates(s: Session, caIds: readonly string[]): Promise<Array<{ caId: string; crlNumber: bigint; generation: bigint }>> {
  if (caIds.length === 0) return [];
  const rows = await sqlOf(s).query<{ id: string; crl_number: string | number; generation: string | number }>(REVOCATION_STATES, [caIds]);
  return rows.map((r) => ({ caId: r.id, crlNumber: BigInt(r.crl_number), generation: BigInt(r.generation) }));
}
