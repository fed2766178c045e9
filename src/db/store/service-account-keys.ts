/**
 * The service_account_public_keys table: service accounts' public keys for
 * JWT-bearer authentication (RFC 7523), by RFC 7638 thumbprint. ORM
 * entities, like the rest of the admin plane.
 */
import { LockMode } from "@mikro-orm/core";
import { ServiceAccountPublicKey, type ServiceAccount } from "../entities/index.js";
import { emOf, type Session, type TxSession } from "./session.js";

/** A new public key row (written at the transaction's flush). */
export function insertServiceAccountPublicKey(
  tx: TxSession,
  row: {
    id: string;
    serviceAccount: ServiceAccount;
    kid: string;
    name: string;
    algorithm: string;
    jwk: Record<string, unknown>;
    scopes: string[];
    createdById: string | null;
    createdAt: Date;
    expiresAt: Date | null;
  },
): ServiceAccountPublicKey {
  return emOf(tx).create(ServiceAccountPublicKey, row);
}

/** Whether the service account has (or had: revoked ones count) a key with this thumbprint. */
export async function publicKeyRegistered(s: Session, serviceAccountId: string, kid: string): Promise<boolean> {
  return (await emOf(s).count(ServiceAccountPublicKey, { serviceAccount: serviceAccountId, kid })) > 0;
}

/** A service account's key by thumbprint, with its service account; `lock` takes a row lock (FOR UPDATE). */
export async function findServiceAccountPublicKey(
  s: Session,
  serviceAccountId: string,
  kid: string,
  opts: { lock?: boolean } = {},
): Promise<ServiceAccountPublicKey | null> {
  return emOf(s).findOne(
    ServiceAccountPublicKey,
    { serviceAccount: serviceAccountId, kid },
    opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : { populate: ["serviceAccount"] },
  );
}

/** Records when a key last signed an accepted JWT. */
export async function touchServiceAccountPublicKey(s: Session, id: string, lastUsedAt: Date): Promise<void> {
  await emOf(s).nativeUpdate(ServiceAccountPublicKey, { id }, { lastUsedAt });
}

/** A page of a service account's public keys (revoked ones only when asked), oldest first. */
export async function listServiceAccountPublicKeys(
  s: Session,
  filter: { serviceAccountId: string; includeRevoked: boolean },
  window: { offset: number; limit: number },
): Promise<{ items: ServiceAccountPublicKey[]; total: number }> {
  const where = filter.includeRevoked ? { serviceAccount: filter.serviceAccountId } : { serviceAccount: filter.serviceAccountId, revokedAt: null };
  const [items, total] = await emOf(s).findAndCount(ServiceAccountPublicKey, where, {
    orderBy: { createdAt: "asc", id: "asc" },
    offset: window.offset,
    limit: window.limit,
  });
  return { items, total };
}

/** A key by its row id, with its service account (access tokens from ExchangeJwt name it). */
export async function findServiceAccountPublicKeyById(s: Session, id: string): Promise<ServiceAccountPublicKey | null> {
  return emOf(s).findOne(ServiceAccountPublicKey, { id }, { populate: ["serviceAccount"] });
}

/** Deletes a service account's public keys in the transaction (with the account); returns how many. */
export async function deleteServiceAccountPublicKeys(tx: TxSession, serviceAccountId: string): Promise<number> {
  return emOf(tx).nativeDelete(ServiceAccountPublicKey, { serviceAccount: serviceAccountId });
}
