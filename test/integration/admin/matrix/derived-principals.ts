/**
 * Principals of the permission matrix derived from saWithFlag (issue 13
 * items 3 and 4): the same service account acting through other
 * credentials. Their expected outcome follows from the row's saWithFlag
 * expectation, so every row covers them without listing them:
 * - saJwtBearer: a JWT it signed itself (RFC 7523), presented directly as
 *   the bearer (a fresh JWT per call: a jti is accepted once);
 * - saExchangedToken: the access token AuthService.ExchangeJwt gave for such a JWT;
 * - saScopedKeyInScope: an API key holding exactly the RPC's scope
 *   (src/policy/scopes.ts RPC_SCOPES; another scope for RPCs needing none);
 * - saScopedKeyOutOfScope / saScopedJwtOutOfScope: an API key / a public
 *   key holding only some other scope: PERMISSION_DENIED for every RPC that
 *   needs a scope, saWithFlag's outcome for the ones that need none.
 */
import { randomUUID } from "node:crypto";
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { AuthService } from "../../../../src/gen/sigil/admin/v1/auth_pb.js";
import { ServiceAccountService } from "../../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { scopeOfRpc, type Scope } from "../../../../src/policy/scopes.js";
import type { MatrixFixture, MatrixRow, Outcome } from "./types.js";

export const DERIVED_PRINCIPALS = ["saJwtBearer", "saExchangedToken", "saScopedKeyInScope", "saScopedKeyOutOfScope", "saScopedJwtOutOfScope"] as const;
export type DerivedPrincipal = (typeof DERIVED_PRINCIPALS)[number];

/** The scope an RPC needs ("none" when it needs none). */
export function rowScope(row: MatrixRow): Scope | "none" {
  const s = scopeOfRpc(`/${row.service.typeName}/${row.method}`);
  if (s === undefined) throw new Error(`${row.service.name}.${row.method} has no entry in RPC_SCOPES`);
  return s;
}

/** A scope that does not cover the row's RPC. */
function otherScope(row: MatrixRow): Scope {
  return rowScope(row) === "audit:read" ? "renewal:read" : "audit:read";
}

/** What the derived principal should get for the row. */
export function derivedExpectation(row: MatrixRow, p: DerivedPrincipal): Outcome {
  const base = row.expect.saWithFlag;
  switch (p) {
    case "saJwtBearer":
    case "saExchangedToken":
    case "saScopedKeyInScope":
      return base;
    case "saScopedKeyOutOfScope":
    case "saScopedJwtOutOfScope":
      return rowScope(row) === "none" ? base : "PERMISSION_DENIED";
  }
}

/** A signing key of a service account, registered through the admin API. */
export interface RegisteredKey {
  serviceAccountId: string;
  kid: string;
  privateKey: CryptoKey;
}

/** Registers a fresh ES256 key with `scopes` for the service account (as the superuser). */
export async function registerKey(fx: MatrixFixture, serviceAccountId: string, scopes: string[]): Promise<RegisteredKey> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const r = await fx.superuser(ServiceAccountService, "registerServiceAccountPublicKey", {
    serviceAccountId,
    name: fx.unique("matrix-key"),
    publicKey: await exportSPKI(publicKey),
    scopes,
  });
  return { serviceAccountId, kid: r.publicKey.keyId as string, privateKey };
}

/** A JWT bearer assertion (RFC 7523 §2.1) signed with `key`, valid for 2 minutes, with a fresh jti. */
export function signAssertion(key: RegisteredKey, audience: string, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setIssuer(key.serviceAccountId)
    .setSubject(key.serviceAccountId)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** Builds (and caches) the credentials of the derived principals. */
export class DerivedCredentials {
  readonly #cache = new Map<string, Promise<unknown>>();

  constructor(
    readonly fx: MatrixFixture,
    readonly audience: string,
  ) {}

  #once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.#cache.get(key);
    if (!p) {
      p = make();
      this.#cache.set(key, p);
    }
    return p as Promise<T>;
  }

  #key(saId: string, scopes: string[]): Promise<RegisteredKey> {
    return this.#once(`pk:${saId}:${scopes.join(",")}`, () => registerKey(this.fx, saId, scopes));
  }

  #apiKey(saId: string, scopes: string[]): Promise<string> {
    return this.#once(`ak:${saId}:${scopes.join(",")}`, async () => {
      const r = await this.fx.superuser(ServiceAccountService, "createApiKey", { serviceAccountId: saId, name: this.fx.unique("scoped"), scopes });
      return r.key as string;
    });
  }

  /** The bearer credential of `p` for `row` (a fresh JWT for the JWT principals). */
  async credential(row: MatrixRow, p: DerivedPrincipal): Promise<string> {
    const saId = this.fx.ids("saWithFlag", row.flag).serviceAccountId!;
    const needed = rowScope(row);
    switch (p) {
      case "saJwtBearer":
        return signAssertion(await this.#key(saId, ["*"]), this.audience);
      case "saExchangedToken":
        // exchanged once per service account and reused (15 minutes is longer than the matrix)
        return this.#once(`ex:${saId}`, async () => {
          const r = await this.fx.callAs("unauthenticated", AuthService, "exchangeJwt", { assertion: await signAssertion(await this.#key(saId, ["*"]), this.audience) });
          return r.accessToken as string;
        });
      case "saScopedKeyInScope":
        return this.#apiKey(saId, [needed === "none" ? otherScope(row) : needed]);
      case "saScopedKeyOutOfScope":
        return this.#apiKey(saId, [otherScope(row)]);
      case "saScopedJwtOutOfScope":
        return signAssertion(await this.#key(saId, [otherScope(row)]), this.audience);
    }
  }
}
