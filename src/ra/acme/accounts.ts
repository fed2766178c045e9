/**
 * ACME accounts (RFC 8555 §7.3): creation with optional External Account
 * Binding (§7.3.4), lookup, update and deactivation (§7.3.2, §7.3.6), key
 * rollover (§7.3.5). Every change and its audit entry commit together. The
 * rows are the account store's (src/db/store/acme-accounts.ts); the inner
 * JWS of EAB and keyChange are checked by ./inner-jws.ts.
 */
import type { JWK } from "jose";
import { uuidv7 } from "../../core/ids.js";
import {
  deactivateAccount as deactivateAccountRows,
  findAccountById as findAccountRowById,
  findAccountByThumbprint as findAccountRowByThumbprint,
  insertAccount,
  lockAccount,
  setAccountKey,
  updateAccount as updateAccountRow,
  type AccountRecord,
} from "../../db/store/acme-accounts.js";
import { lockEabKeyForUse, markEabKeyUsed } from "../../db/store/acme-eab-keys.js";
import { consumeNonceAndFindAccount as consumeNonceAndFindAccountRow, consumeNoncesAndFindAccounts, type NonceAndAccount } from "../../db/store/nonces.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext, type Tx } from "../context.js";
import type { DirectoryInfo } from "./directories.js";
import { eabKeyAad } from "./directories.js";
import { ACME_MESSAGES, AcmeError, acmeErr } from "./errors.js";
import { parseExternalAccountBinding, verifyExternalAccountBinding } from "./inner-jws.js";
import { spendNewAccount } from "./rate-limits.js";

/** An account as the front end sees it (the account store's record). */
export type AccountInfo = AccountRecord;

export function accountActor(a: Pick<AccountInfo, "id" | "organizationId" | "directoryId">): Actor {
  return { kind: "acmeAccount", id: a.id, organizationId: a.organizationId, directoryId: a.directoryId };
}

/** An account of a directory by id (outside a transaction: the root store). */
export async function findAccountById(ctx: Pick<RaContext, "store">, directoryId: string, id: string): Promise<AccountInfo | null> {
  return (await findAccountRowById(ctx.store, directoryId, id)) ?? null;
}

/** RFC 8555 §7.3.1: an account of a directory by its key's RFC 7638 thumbprint. */
export async function findAccountByThumbprint(ctx: Pick<RaContext, "store">, directoryId: string, thumbprint: string): Promise<AccountInfo | null> {
  return (await findAccountRowByThumbprint(ctx.store, directoryId, thumbprint)) ?? null;
}

/** What a kid request's first round trip learns: whether its nonce was good, its account, and what it read ahead. */
export type NonceAccountResult = NonceAndAccount;

/** what a kid request's first round trip may read of its account besides the account (the ids of the path) */
export interface AccountReads {
  orderId?: string;
  authorizationId?: string;
}

/**
 * RFC 8555 §6.5 + §6.2 in one round trip: consumes the nonce (single use)
 * and reads the account of a kid request. The nonce is consumed whether or
 * not the account exists.
 */
export async function consumeNonceAndFindAccount(
  ctx: Pick<RaContext, "store">,
  nonce: string,
  now: Date,
  directoryId: string,
  id: string,
): Promise<NonceAccountResult> {
  return consumeNonceAndFindAccountRow(ctx.store, { nonce, directoryId, accountId: id }, now);
}

interface NonceAccountRequest {
  nonce: string;
  directoryId: string;
  id: string;
  /** what of the account the same statement also reads (the order poll, the authorization read) */
  reads: AccountReads;
  resolve: (r: NonceAccountResult) => void;
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
    private readonly ctx: Pick<RaContext, "store">,
    private readonly now: () => Date,
    private readonly maxBatch = 128,
  ) {}

  /** `reads`: also read that order / authorization of the account (the result's `order` / `authorization`: null when the account has none of that id) */
  lookup(nonce: string, directoryId: string, id: string, reads: AccountReads = {}): Promise<NonceAccountResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ nonce, directoryId, id, reads, resolve, reject });
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
        r.resolve(await consumeNonceAndFindAccountRow(this.ctx.store, { nonce: r.nonce, directoryId: r.directoryId, accountId: r.id, ...r.reads }, this.now()));
        return;
      }
      const seen = new Set<string>();
      const send: NonceAccountRequest[] = [];
      for (const r of batch) {
        if (seen.has(r.nonce))
          r.resolve({ nonceOk: false, account: null, ...(r.reads.orderId !== undefined ? { order: null } : {}), ...(r.reads.authorizationId !== undefined ? { authorization: null } : {}) });
        else {
          seen.add(r.nonce);
          send.push(r);
        }
      }
      const rows = await consumeNoncesAndFindAccounts(
        this.ctx.store,
        send.map((r) => ({ nonce: r.nonce, directoryId: r.directoryId, accountId: r.id, ...r.reads })),
        this.now(),
      );
      send.forEach((r, i) => {
        const row = rows[i];
        // one row per request (the statement's `order by r.i`); a missing one fails its caller instead of handing it undefined
        if (row) r.resolve(row);
        else r.reject(new Error("the batched nonce + account statement returned no row for a request"));
      });
    } catch (e) {
      for (const r of batch) r.reject(e);
    }
  }
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

export interface NewAccountRequest {
  /** the account key, canonical (src/acme/jws.ts canonicalJwk) */
  jwk: JWK;
  /** RFC 7638 thumbprint of `jwk` */
  thumbprint: string;
  contact?: unknown;
  termsOfServiceAgreed?: unknown;
  onlyReturnExisting?: unknown;
  externalAccountBinding?: unknown;
  /** the newAccount URL (the EAB JWS must carry it, §7.3.4) */
  newAccountUrl: string;
  /** the client's address (the forwarded one with SIGIL_TRUST_PROXY): the new-accounts-per-ip rate limit */
  clientAddress?: string;
}

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
  const binding = eab ? await parseExternalAccountBinding(eab, { newAccountUrl: req.newAccountUrl, accountThumbprint: req.thumbprint }) : undefined;
  // docs/rate-limits.md: new accounts per client address; given back when no account is created
  const spent = await spendNewAccount(ctx, dir, req.clientAddress);
  const id = uuidv7();
  try {
    return await inTransaction(ctx, async (tx) => {
      const now = ctx.clock.now();
      let organizationId = dir.organizationId;
      let eabKeyId: string | null = null;
      if (binding) {
        // §7.3.4: the key is usable once; the row lock makes a concurrent second use wait and then fail
        const key = await lockEabKeyForUse(tx, binding.kid, dir.id);
        if (!key || key.revokedAt) throw acmeErr.unauthorized(ACME_MESSAGES.eabInvalid);
        if (key.usedAt) throw acmeErr.unauthorized(ACME_MESSAGES.eabUsed);
        let secret: Buffer;
        try {
          secret = await ctx.secrets.open(tx, key.encryptedHmacKey, eabKeyAad(key.id));
        } catch (e) {
          throw new AcmeError("internal", "serverInternal", "EAB key cannot be decrypted", { cause: e });
        }
        if (!verifyExternalAccountBinding(binding, secret)) throw acmeErr.unauthorized(ACME_MESSAGES.eabInvalid);
        organizationId = key.organizationId;
        eabKeyId = key.id;
      }
      const account = await insertAccount(
        tx,
        {
          id,
          directoryId: dir.id,
          organizationId,
          keyThumbprint: req.thumbprint,
          jwk: { ...req.jwk },
          status: "valid",
          contact,
          termsOfServiceAgreed: req.termsOfServiceAgreed === true,
          eabKeyId,
        },
        now,
      );
      const actor = accountActor(account);
      if (eabKeyId !== null) {
        if (!(await markEabKeyUsed(tx, eabKeyId, id, now))) throw acmeErr.unauthorized(ACME_MESSAGES.eabUsed);
        tx.audit(actor, { action: "eab_use", organizationId, resourceType: "acme_eab_key", resourceId: eabKeyId, detail: { accountId: id } });
      }
      tx.audit(actor, {
        action: "acme_account_create",
        organizationId,
        resourceType: "acme_account",
        resourceId: id,
        detail: { directory: dir.name, thumbprint: req.thumbprint, eab: eabKeyId !== null },
      });
      return { account, created: true };
    });
  } catch (e) {
    await spent.refund().catch(() => undefined);
    // two concurrent newAccount requests with one key: the loser returns the winner's account
    if (isUniqueViolation(e)) {
      const again = await findAccountByThumbprint(ctx, dir.id, req.thumbprint);
      if (again) return { account: again, created: false };
    }
    throw e;
  }
}

export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "23505" || (e as Error)?.name === "UniqueConstraintViolationException";
}

/** Who deactivates an account: the client itself (ACME) or an operator (admin plane). */
export type DeactivatedBy = "client" | "operator";

/**
 * RFC 8555 §7.3.6 deactivation, the one rule for both the client's request
 * and the operator's: the account becomes deactivated and its pending and
 * valid authorizations deactivated (§7.1.6), with one audit entry, in the
 * caller's transaction. The caller locked the account (it is valid).
 */
export async function deactivateAccountInTx(tx: Tx, ctx: Pick<RaContext, "clock">, actor: Actor, account: AccountRecord, by: DeactivatedBy): Promise<AccountInfo> {
  const done = await deactivateAccountRows(tx, account.id, ctx.clock.now());
  if (!done) throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
  tx.audit(actor, {
    action: "acme_account_deactivate",
    organizationId: account.organizationId,
    resourceType: "acme_account",
    resourceId: account.id,
    detail: { directoryId: account.directoryId, by, authorizationsDeactivated: done.authorizationsDeactivated },
  });
  return done.account;
}

/** §7.3.2 update (contact, terms agreement) and §7.3.6 deactivation */
export async function updateAccount(
  ctx: RaContext,
  account: AccountInfo,
  payload: { contact?: unknown; status?: unknown; termsOfServiceAgreed?: unknown },
): Promise<AccountInfo> {
  if (payload.status !== undefined && payload.status !== "deactivated") throw acmeErr.malformed('status may only be set to "deactivated"');
  const contact = payload.contact !== undefined ? checkContacts(payload.contact) : undefined;
  const agree = payload.termsOfServiceAgreed === true ? true : undefined;
  if (contact === undefined && payload.status === undefined && agree === undefined) return account;
  return inTransaction(ctx, async (tx) => {
    const locked = await lockAccount(tx, account.id);
    if (!locked) throw acmeErr.accountDoesNotExist();
    if (locked.status !== "valid") throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
    const actor = accountActor(locked);
    let current = locked;
    if (contact !== undefined || agree !== undefined) {
      current = (await updateAccountRow(tx, locked.id, { contact, termsOfServiceAgreed: agree }, ctx.clock.now())) ?? current;
      if (contact !== undefined) {
        tx.audit(actor, { action: "acme_account_update", organizationId: locked.organizationId, resourceType: "acme_account", resourceId: locked.id, detail: { contacts: contact.length } });
      }
    }
    if (payload.status === "deactivated") return deactivateAccountInTx(tx, ctx, actor, current, "client");
    return current;
  });
}

/**
 * §7.3.5: replaces the account key with a new key the caller verified with
 * ./inner-jws.ts verifyKeyChange (its canonical JWK and thumbprint). If
 * another account of the directory already has the new key: 409 with that
 * account's Location.
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
      const a = await lockAccount(tx, account.id);
      if (!a) throw acmeErr.accountDoesNotExist();
      if (a.status !== "valid") throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
      if (a.keyThumbprint !== account.keyThumbprint) throw acmeErr.unauthorized("the account key changed concurrently");
      const changed = await setAccountKey(tx, a.id, { ...newJwk }, newThumbprint, ctx.clock.now());
      if (!changed) throw acmeErr.accountDoesNotExist();
      tx.audit(accountActor(a), {
        action: "acme_account_key_change",
        organizationId: a.organizationId,
        resourceType: "acme_account",
        resourceId: a.id,
        detail: { oldThumbprint: a.keyThumbprint, newThumbprint },
      });
      return changed;
    });
  } catch (e) {
    if (isUniqueViolation(e)) {
      const h = await findAccountByThumbprint(ctx, account.directoryId, newThumbprint);
      throw acmeErr.conflict("the new key already belongs to an account", accountUrl(h?.id ?? account.id));
    }
    throw e;
  }
}
