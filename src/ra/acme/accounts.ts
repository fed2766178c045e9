/**
 * ACME accounts (RFC 8555 §7.3): creation with optional External Account
 * Binding (§7.3.4), lookup, update and deactivation (§7.3.2, §7.3.6), key
 * rollover (§7.3.5). Every change and its audit entry commit together.
 */
import { flattenedVerify, type JWK } from "jose";
import { LockMode } from "@mikro-orm/core";
import { uuidv7 } from "../../core/ids.js";
import { sqlPool, statement } from "../../db/sql.js";
import { AcmeAccount, AcmeDirectory, AcmeEabKey, Organization } from "../../db/entities/index.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import type { DirectoryInfo } from "./directories.js";
import { eabKeyAad } from "./directories.js";
import { ACME_MESSAGES, AcmeError, acmeErr } from "./errors.js";

/** An account as the front end sees it. */
export interface AccountInfo {
  id: string;
  directoryId: string;
  organizationId: string;
  keyThumbprint: string;
  jwk: JWK;
  status: "valid" | "deactivated" | "revoked";
  contact: string[];
  termsOfServiceAgreed: boolean;
  eabKeyId: string | null;
}

interface AccountRow {
  id: string;
  directory_id: string;
  organization_id: string;
  key_thumbprint: string;
  jwk: JWK;
  status: AccountInfo["status"];
  contact: string[];
  terms_of_service_agreed: boolean;
  eab_key_id: string | null;
}

const ACCOUNT_COLUMNS = "id, directory_id, organization_id, key_thumbprint, jwk, status, contact, terms_of_service_agreed, eab_key_id";

function fromRow(r: AccountRow): AccountInfo {
  return {
    id: r.id,
    directoryId: r.directory_id,
    organizationId: r.organization_id,
    keyThumbprint: r.key_thumbprint,
    jwk: r.jwk,
    status: r.status,
    contact: r.contact,
    termsOfServiceAgreed: r.terms_of_service_agreed,
    eabKeyId: r.eab_key_id,
  };
}

function fromEntity(a: AcmeAccount): AccountInfo {
  return {
    id: a.id,
    directoryId: a.directory.id,
    organizationId: a.organization.id,
    keyThumbprint: a.keyThumbprint,
    jwk: a.jwk as JWK,
    status: a.status,
    contact: a.contact,
    termsOfServiceAgreed: a.termsOfServiceAgreed,
    eabKeyId: a.eabKeyId ?? null,
  };
}

export function accountActor(a: Pick<AccountInfo, "id" | "organizationId" | "directoryId">): Actor {
  return { kind: "acmeAccount", id: a.id, organizationId: a.organizationId, directoryId: a.directoryId };
}

export async function findAccountById(ctx: RaContext, directoryId: string, id: string): Promise<AccountInfo | null> {
  const rows = await ctx.orm.em
    .getConnection()
    .execute<AccountRow[]>(`select ${ACCOUNT_COLUMNS} from acme_accounts where id = ? and directory_id = ?`, [id, directoryId]);
  return rows[0] ? fromRow(rows[0]) : null;
}

const NONCE_AND_ACCOUNT = statement(
  "sigil_acme_nonce_account",
  `with n as (delete from acme_nonces where value = $1 and expires_at > $2 returning 1)
   select exists (select 1 from n) as nonce_ok, ${ACCOUNT_COLUMNS
     .split(", ")
     .map((c) => `a.${c}`)
     .join(", ")}
     from (values (1)) one left join acme_accounts a on a.id = $3 and a.directory_id = $4`,
);

/**
 * RFC 8555 §6.5 + §6.2 in one round trip: consumes the nonce (a single-use
 * DELETE, as NonceStore.consume) and reads the account of a kid request.
 * The nonce is consumed whether or not the account exists.
 */
export async function consumeNonceAndFindAccount(
  ctx: Pick<RaContext, "orm">,
  nonce: string,
  now: Date,
  directoryId: string,
  id: string,
): Promise<{ nonceOk: boolean; account: AccountInfo | null }> {
  const rows = await sqlPool(ctx.orm).query<AccountRow & { nonce_ok: boolean }>(NONCE_AND_ACCOUNT, [nonce, now, id, directoryId]);
  const r = rows[0]!;
  return { nonceOk: r.nonce_ok, account: r.id ? fromRow(r) : null };
}

const NONCES_AND_ACCOUNTS = statement(
  "sigil_acme_nonces_accounts",
  `with r as (select * from unnest($1::varchar[], $3::uuid[], $4::uuid[]) with ordinality as r(nonce, account_id, directory_id, i)),
        n as (delete from acme_nonces where value = any($1::varchar[]) and expires_at > $2 returning value)
   select r.i, n.value is not null as nonce_ok, ${ACCOUNT_COLUMNS
     .split(", ")
     .map((c) => `a.${c}`)
     .join(", ")}
     from r left join n on n.value = r.nonce left join acme_accounts a on a.id = r.account_id and a.directory_id = r.directory_id
    order by r.i`,
);

interface NonceAccountRequest {
  nonce: string;
  directoryId: string;
  id: string;
  resolve: (r: { nonceOk: boolean; account: AccountInfo | null }) => void;
  reject: (e: unknown) => void;
}

/**
 * consumeNonceAndFindAccount for concurrent requests: the lookups asked for
 * in one event-loop turn go out as one statement (one DELETE of all their
 * nonces, one account read each), so under load a round trip serves several
 * requests. A nonce twice in one batch (a replay racing its first use) is
 * accepted once.
 */
export class NonceAccountBatcher {
  private queue: NonceAccountRequest[] = [];
  private scheduled = false;

  constructor(
    private readonly ctx: Pick<RaContext, "orm">,
    private readonly now: () => Date,
    private readonly maxBatch = 128,
  ) {}

  lookup(nonce: string, directoryId: string, id: string): Promise<{ nonceOk: boolean; account: AccountInfo | null }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ nonce, directoryId, id, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length) void this.run(this.queue.splice(0, this.maxBatch));
  }

  private async run(batch: NonceAccountRequest[]): Promise<void> {
    try {
      if (batch.length === 1) {
        const r = batch[0]!;
        r.resolve(await consumeNonceAndFindAccount(this.ctx, r.nonce, this.now(), r.directoryId, r.id));
        return;
      }
      const seen = new Set<string>();
      const send: NonceAccountRequest[] = [];
      for (const r of batch) {
        if (seen.has(r.nonce)) r.resolve({ nonceOk: false, account: null });
        else {
          seen.add(r.nonce);
          send.push(r);
        }
      }
      const rows = await sqlPool(this.ctx.orm).query<AccountRow & { i: string; nonce_ok: boolean }>(NONCES_AND_ACCOUNTS, [
        send.map((r) => r.nonce),
        this.now(),
        send.map((r) => r.id),
        send.map((r) => r.directoryId),
      ]);
      for (const row of rows) send[Number(row.i) - 1]!.resolve({ nonceOk: row.nonce_ok, account: row.id ? fromRow(row) : null });
    } catch (e) {
      for (const r of batch) r.reject(e);
    }
  }
}

export async function findAccountByThumbprint(ctx: RaContext, directoryId: string, thumbprint: string): Promise<AccountInfo | null> {
  const rows = await ctx.orm.em
    .getConnection()
    .execute<AccountRow[]>(`select ${ACCOUNT_COLUMNS} from acme_accounts where directory_id = ? and key_thumbprint = ?`, [directoryId, thumbprint]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export const MAX_CONTACTS = 10;
const MAILTO = /^mailto:([^@\s?#,:;<>()\[\]\\"]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$/;

/** RFC 8555 §7.3: contact URLs; we support mailto only, one address each, no hfields */
export function checkContacts(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw acmeErr.malformed("contact must be an array of URLs");
  if (raw.length > MAX_CONTACTS) throw acmeErr.invalidContact(`at most ${MAX_CONTACTS} contacts`);
  return raw.map((c) => {
    if (typeof c !== "string") throw acmeErr.malformed("contact entries must be strings");
    if (!c.toLowerCase().startsWith("mailto:")) throw acmeErr.unsupportedContact(`only mailto: contacts are supported`);
    if (!MAILTO.test(c) || c.length > 254 + 7) throw acmeErr.invalidContact(`"${c.slice(0, 80)}" is not a valid mailto: contact`);
    return c;
  });
}

export interface EabJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface NewAccountRequest {
  jwk: JWK;
  thumbprint: string;
  contact?: unknown;
  termsOfServiceAgreed?: unknown;
  onlyReturnExisting?: unknown;
  externalAccountBinding?: unknown;
  /** the newAccount URL (the EAB JWS must carry it, §7.3.4) */
  newAccountUrl: string;
}

const EAB_ALGS = ["HS256", "HS384", "HS512"];

/**
 * RFC 8555 §7.3 newAccount. Returns the account and whether it was created
 * (201) or already existed for this key (200).
 */
export async function newAccount(ctx: RaContext, dir: DirectoryInfo, req: NewAccountRequest): Promise<{ account: AccountInfo; created: boolean }> {
  const existing = await findAccountByThumbprint(ctx, dir.id, req.thumbprint);
  if (existing) {
    if (existing.status !== "valid") throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
    return { account: existing, created: false };
  }
  if (req.onlyReturnExisting === true) throw acmeErr.accountDoesNotExist();
  const contact = checkContacts(req.contact);
  if (dir.termsOfServiceUrl && req.termsOfServiceAgreed !== true) throw acmeErr.userActionRequired(ACME_MESSAGES.tosRequired);
  const eab = req.externalAccountBinding;
  if (eab === undefined || eab === null) {
    if (dir.eabRequired) throw acmeErr.externalAccountRequired();
  } else if (typeof eab !== "object") throw acmeErr.malformed("externalAccountBinding must be a JWS object");
  const eabJws = eab ? parseEab(eab as Record<string, unknown>, req) : undefined;
  const id = uuidv7();
  try {
    return await inTransaction(ctx, async (tx) => {
      let organizationId = dir.organizationId;
      let eabKeyId: string | null = null;
      if (eabJws) {
        // §7.3.4: the key is usable once; the row lock makes a concurrent second use wait and then fail
        const key = await tx.em.findOne(
          AcmeEabKey,
          { id: eabJws.kid, directory: dir.id },
          { lockMode: LockMode.PESSIMISTIC_WRITE, populate: ["encryptedHmacKey"] },
        );
        if (!key || key.revokedAt) throw acmeErr.unauthorized(ACME_MESSAGES.eabInvalid);
        if (key.usedAt) throw acmeErr.unauthorized(ACME_MESSAGES.eabUsed);
        let secret: Buffer;
        try {
          secret = ctx.keyRing.decrypt(key.encryptedHmacKey, eabKeyAad(key.id));
        } catch (e) {
          throw new AcmeError("internal", "serverInternal", "EAB key cannot be decrypted", { cause: e });
        }
        try {
          await flattenedVerify(eabJws.jws, secret, { algorithms: EAB_ALGS });
        } catch {
          throw acmeErr.unauthorized(ACME_MESSAGES.eabInvalid);
        }
        key.usedAt = ctx.clock.now();
        key.usedByAccountId = id;
        organizationId = key.organization.id;
        eabKeyId = key.id;
        tx.audit(accountActor({ id, organizationId, directoryId: dir.id }), {
          action: "eab_use",
          organizationId,
          resourceType: "acme_eab_key",
          resourceId: key.id,
          detail: { accountId: id },
        });
      }
      const acct = tx.em.create(AcmeAccount, {
        id,
        directory: tx.em.getReference(AcmeDirectory, dir.id),
        organization: tx.em.getReference(Organization, organizationId),
        keyThumbprint: req.thumbprint,
        jwk: req.jwk as Record<string, unknown>,
        status: "valid",
        contact,
        termsOfServiceAgreed: req.termsOfServiceAgreed === true,
        eabKeyId,
      } as unknown as AcmeAccount);
      tx.audit(accountActor({ id, organizationId, directoryId: dir.id }), {
        action: "acme_account_create",
        organizationId,
        resourceType: "acme_account",
        resourceId: id,
        detail: { directory: dir.name, thumbprint: req.thumbprint, eab: eabKeyId !== null },
      });
      await tx.em.flush();
      return { account: fromEntity(acct), created: true };
    });
  } catch (e) {
    // two concurrent newAccount requests with one key: the loser returns the winner's account
    if (isUniqueViolation(e)) {
      const again = await findAccountByThumbprint(ctx, dir.id, req.thumbprint);
      if (again) return { account: again, created: false };
    }
    throw e;
  }
}

/** §7.3.4: the binding is a flattened JWS (HS*) over the account JWK, kid = EAB key id, url = newAccount URL */
function parseEab(eab: Record<string, unknown>, req: NewAccountRequest): { kid: string; jws: EabJws } {
  const { protected: p, payload, signature } = eab;
  if (typeof p !== "string" || typeof payload !== "string" || typeof signature !== "string") {
    throw acmeErr.malformed("externalAccountBinding must be a flattened JWS");
  }
  let header: Record<string, unknown>;
  let inner: unknown;
  try {
    header = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as Record<string, unknown>;
    inner = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw acmeErr.malformed("externalAccountBinding is not valid base64url JSON");
  }
  if (!header || typeof header !== "object") throw acmeErr.malformed("externalAccountBinding protected header must be a JSON object");
  if (typeof header.alg !== "string" || !EAB_ALGS.includes(header.alg)) {
    throw acmeErr.malformed("externalAccountBinding alg must be HS256, HS384 or HS512");
  }
  if (header.nonce !== undefined) throw acmeErr.malformed("externalAccountBinding must not carry a nonce");
  if (header.url !== req.newAccountUrl) throw acmeErr.unauthorized("externalAccountBinding url must be the newAccount URL");
  if (typeof header.kid !== "string" || !/^[0-9a-f-]{36}$/i.test(header.kid)) throw acmeErr.unauthorized(ACME_MESSAGES.eabInvalid);
  if (!sameJwk(inner as JWK, req.jwk)) throw acmeErr.unauthorized("externalAccountBinding payload must be the account key");
  return { kid: header.kid.toLowerCase(), jws: { protected: p, payload, signature } };
}

function sameJwk(a: JWK, b: JWK): boolean {
  if (!a || typeof a !== "object") return false;
  const fields = ["kty", "crv", "x", "y", "n", "e"] as const;
  return fields.every((f) => a[f] === b[f]);
}

export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "23505" || (e as Error)?.name === "UniqueConstraintViolationException";
}

/** §7.3.2 update (contact) and §7.3.6 deactivation */
export async function updateAccount(
  ctx: RaContext,
  account: AccountInfo,
  payload: { contact?: unknown; status?: unknown; termsOfServiceAgreed?: unknown },
): Promise<AccountInfo> {
  if (payload.status !== undefined && payload.status !== "deactivated") throw acmeErr.malformed('status may only be set to "deactivated"');
  const contact = payload.contact !== undefined ? checkContacts(payload.contact) : undefined;
  if (contact === undefined && payload.status === undefined && payload.termsOfServiceAgreed === undefined) return account;
  return inTransaction(ctx, async (tx) => {
    const a = await tx.em.findOne(AcmeAccount, { id: account.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!a) throw acmeErr.accountDoesNotExist();
    if (a.status !== "valid") throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
    const actor = accountActor(account);
    if (contact !== undefined) {
      a.contact = contact;
      tx.audit(actor, { action: "acme_account_update", organizationId: account.organizationId, resourceType: "acme_account", resourceId: a.id, detail: { contacts: contact.length } });
    }
    if (payload.termsOfServiceAgreed === true) a.termsOfServiceAgreed = true;
    if (payload.status === "deactivated") {
      a.status = "deactivated";
      // §7.3.6: pending authorizations of the account are deactivated too
      await tx.em.execute(
        `update acme_authorizations set status = 'deactivated', updated_at = ? where account_id = ? and status = 'pending'`,
        [ctx.clock.now(), a.id],
        "run",
      );
      tx.audit(actor, { action: "acme_account_deactivate", organizationId: account.organizationId, resourceType: "acme_account", resourceId: a.id });
    }
    await tx.em.flush();
    return fromEntity(a);
  });
}

/**
 * §7.3.5 key rollover: replaces the account key. The caller verified both
 * signatures and the inner payload. If another account of the directory
 * already has the new key: 409 with that account's Location.
 */
export async function changeAccountKey(
  ctx: RaContext,
  account: AccountInfo,
  newJwk: JWK,
  newThumbprint: string,
  accountUrl: (id: string) => string,
): Promise<AccountInfo> {
  const holder = await findAccountByThumbprint(ctx, account.directoryId, newThumbprint);
  if (holder) throw acmeErr.conflict("the new key already belongs to an account", accountUrl(holder.id));
  try {
    return await inTransaction(ctx, async (tx) => {
      const a = await tx.em.findOne(AcmeAccount, { id: account.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!a) throw acmeErr.accountDoesNotExist();
      if (a.status !== "valid") throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
      if (a.keyThumbprint !== account.keyThumbprint) throw acmeErr.unauthorized("the account key changed concurrently");
      const old = a.keyThumbprint;
      a.jwk = newJwk as Record<string, unknown>;
      a.keyThumbprint = newThumbprint;
      tx.audit(accountActor(account), {
        action: "acme_account_key_change",
        organizationId: account.organizationId,
        resourceType: "acme_account",
        resourceId: a.id,
        detail: { oldThumbprint: old, newThumbprint },
      });
      await tx.em.flush();
      return fromEntity(a);
    });
  } catch (e) {
    if (isUniqueViolation(e)) {
      const h = await findAccountByThumbprint(ctx, account.directoryId, newThumbprint);
      throw acmeErr.conflict("the new key already belongs to an account", accountUrl(h?.id ?? account.id));
    }
    throw e;
  }
}
