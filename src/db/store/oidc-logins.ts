/**
 * The oidc_logins table: OpenID Connect sign-ins in progress (issue 13
 * item 5). The state and binding are kept as SHA-256 hashes, the PKCE code
 * verifier encrypted; a row is used once (used_at) and expires after ten
 * minutes. Expired rows are pruned as new logins begin.
 */
import { LockMode } from "@mikro-orm/core";
import { IdentityProvider, OidcLogin } from "../entities/index.js";
import { emOf, type TxSession } from "./session.js";

/** What a new login row holds. */
export interface NewOidcLogin {
  id: string;
  providerId: string;
  stateHash: string;
  bindingHash: string;
  nonce: string;
  codeVerifierEncrypted: string;
  redirectUri: string;
  createdAt: Date;
  expiresAt: Date;
}

/** A new login in progress (written at the transaction's flush). */
export function insertOidcLogin(tx: TxSession, row: NewOidcLogin): OidcLogin {
  const em = emOf(tx);
  const { providerId, ...rest } = row;
  return em.create(OidcLogin, { ...rest, provider: em.getReference(IdentityProvider, providerId) });
}

/** The login of a state hash, locked (FOR UPDATE) so two completions with one state serialize. */
export async function lockOidcLoginByState(tx: TxSession, stateHash: string): Promise<OidcLogin | null> {
  return emOf(tx).findOne(OidcLogin, { stateHash }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

/** Deletes logins that expired before `before` (at most `limit`, oldest first); returns how many. */
export async function pruneOidcLogins(tx: TxSession, before: Date, limit = 100): Promise<number> {
  const em = emOf(tx);
  const old = await em.find(OidcLogin, { expiresAt: { $lt: before } }, { fields: ["id"], orderBy: { expiresAt: "asc" }, limit });
  if (!old.length) return 0;
  return em.nativeDelete(OidcLogin, { id: { $in: old.map((o) => o.id) } });
}

/** How many unused, unexpired logins a provider has (the cap on sign-ins in progress). */
export async function countLiveOidcLogins(s: TxSession, providerId: string, now: Date): Promise<number> {
  return emOf(s).count(OidcLogin, { provider: providerId, usedAt: null, expiresAt: { $gt: now } });
}
