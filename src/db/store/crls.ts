/**
 * The crls table (each CA's current CRL, as signed), the CRL number on the
 * CA row, the revocation_generations counters a trigger bumps on every
 * revocation, and the revoked-certificates read a CRL is built from
 * (RFC 5280 §5). The numbering and due rules are described in
 * src/ra/crl.ts; this module runs their statements on the session given.
 */
import { statement } from "../sql.js";
import { copyOutOf, sqlOf, type OrmTx, type Session } from "./session.js";

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

const PREVIOUS = statement("sigil_crls_previous", `select this_update, entry_count from crls where ca_id = $1`);

/** thisUpdate and entry count of the CA's stored CRL, if any. */
export async function storedCrlState(s: Session, caId: string): Promise<{ thisUpdate: Date; entryCount: number } | undefined> {
  const [r] = await sqlOf(s).query<{ this_update: Date | string; entry_count: number }>(PREVIOUS, [caId]);
  return r ? { thisUpdate: new Date(r.this_update), entryCount: r.entry_count } : undefined;
}

const GENERATION = statement("sigil_revocation_generations_get", `select generation from revocation_generations where ca_id = $1`);

/** How many revocations the CA has had (0 when none). */
export async function revocationGeneration(s: Session, caId: string): Promise<bigint> {
  const [r] = await sqlOf(s).query<{ generation: string | number }>(GENERATION, [caId]);
  return BigInt(r?.generation ?? 0);
}

/**
 * Receives the CA's revoked certificates one at a time (RFC 5280 §5.1.2.6):
 * the serial as the hex digits `hex[from, to)` (ASCII, as stored; a view valid
 * only during the call), the revocation time in whole seconds since the epoch
 * (floor), and revocation_reason (0 for null or a value outside 0..10).
 */
export type RevokedEntrySink = (hex: Uint8Array, from: number, to: number, revokedAtSeconds: number, reason: number) => void;

/** PostgreSQL's binary COPY signature (the header's first 11 bytes), then flags and extension length */
const COPY_SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/**
 * Parses the binary COPY stream (PostgreSQL docs, "COPY": Binary Format) of
 * rows (serial text, seconds int8, reason int2) into a sink, whatever the
 * chunk boundaries: a row split across chunks waits in `carry` (normally each
 * CopyData message holds whole rows, and the header arrives with the first).
 */
export class RevokedRowsParser {
  private carry: Buffer | undefined;
  private headerDone = false;
  private ended = false;
  count = 0;

  constructor(private readonly sink: RevokedEntrySink) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.ended) throw new Error("COPY data after the trailer");
    let b = chunk;
    if (this.carry) {
      b = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let o = 0;
    if (!this.headerDone) {
      if (b.length < 19) return this.keep(b, 0);
      if (!b.subarray(0, 11).equals(COPY_SIGNATURE)) throw new Error("not a binary COPY stream");
      const extension = b.readUInt32BE(15);
      if (b.length < 19 + extension) return this.keep(b, 0);
      o = 19 + extension;
      this.headerDone = true;
    }
    const len = b.length;
    while (o + 2 <= len) {
      const fields = (b[o]! << 8) | b[o + 1]!;
      if (fields === 0xffff) {
        this.ended = true;
        if (o + 2 < len) throw new Error("COPY data after the trailer");
        return;
      }
      if (fields !== 3) throw new Error(`revoked rows: ${fields} fields, 3 expected`);
      // int16 fields, int32 length + serial, int32 8 + int8, int32 2 + int2
      if (o + 6 > len) break;
      const slen = b.readInt32BE(o + 2);
      if (slen < 0) throw new Error("revoked rows: a null serial");
      const s = o + 6;
      const t = s + slen;
      if (t + 18 > len) break;
      if (b.readInt32BE(t) !== 8 || b.readInt32BE(t + 12) !== 2) throw new Error("revoked rows: a null revocation time or reason");
      const seconds = b.readInt32BE(t + 4) * 4294967296 + b.readUInt32BE(t + 8);
      const reason = b.readInt16BE(t + 16);
      this.sink(b, s, t, seconds, reason);
      this.count++;
      o = t + 18;
    }
    if (o < len) this.keep(b, o);
  }

  /** the unparsed rest, copied (the chunk is the driver's buffer) */
  private keep(b: Buffer, from: number): void {
    this.carry = Buffer.from(b.subarray(from));
  }

  /** throws unless the stream ended with its trailer and nothing after it */
  finish(): number {
    if (!this.ended || this.carry) throw new Error("revoked rows: the COPY stream ended early");
    return this.count;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** a timestamptz literal from a Date (toISOString: digits, "-", ":", "T", ".", "Z" only) */
function timestampLiteral(d: Date): string {
  return `'${d.toISOString()}'::timestamptz`;
}

/**
 * Streams the CA's revoked certificates into `sink` (see RevokedEntrySink), through the
 * partial index certificates_revoked_issuer_index; with `since`, only those unexpired at
 * `since.notAfterFrom` or revoked after `since.revokedAfter` (the expiry policy of
 * src/ra/crl.ts). One binary COPY: PostgreSQL sends row after row while the sink encodes
 * (no result message of the whole list, no text decoding). Returns the number of entries.
 */
export async function streamRevokedEntries(
  tx: OrmTx,
  caId: string,
  since: { notAfterFrom: Date; revokedAfter: Date } | undefined,
  sink: RevokedEntrySink,
): Promise<number> {
  // COPY takes no parameters: the literals are checked here (a uuid, ISO timestamps)
  if (!UUID.test(caId)) throw new Error("revoked rows: the CA id is not a uuid");
  const window = since ? ` and (not_after >= ${timestampLiteral(since.notAfterFrom)} or revoked_at > ${timestampLiteral(since.revokedAfter)})` : "";
  const text = `copy (select serial, floor(date_part('epoch', revoked_at))::int8,
      (case when revocation_reason between 0 and 10 then revocation_reason else 0 end)::int2
    from certificates where issuer_id = '${caId}' and status = 'revoked'${window}) to stdout (format binary)`;
  const parser = new RevokedRowsParser(sink);
  await copyOutOf(tx, text, (chunk) => parser.push(chunk));
  return parser.finish();
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
