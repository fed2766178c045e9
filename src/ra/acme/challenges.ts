/**
 * ACME challenges (RFC 8555 §7.5.1, §8): reads scoped to the owning
 * account, and the client's request to validate one, which starts exactly
 * one validation however many POSTs arrive at once.
 */
import { findChallenge, startChallenge as startChallengeRow, type AcmeChallengeRow } from "../../db/store/acme-authorizations.js";
import type { RaContext } from "../context.js";
import type { AccountInfo } from "./accounts.js";
import { acmeErr } from "./errors.js";
import type { ChallengeJob } from "./validation.js";
import type { DirectoryInfo } from "./directories.js";
import { checkFailedValidations } from "./rate-limits.js";

/** the refusal of a challenge whose type the directory does not offer (any more) */
export const CHALLENGE_TYPE_NOT_ENABLED = (type: string): string => `challenge type ${type} is not enabled for this directory`;

/** a challenge as the client sees it (the stored row, copied so later changes to one do not reach the other) */
export type ChallengeInfo = AcmeChallengeRow;

export function challengeInfo(r: AcmeChallengeRow): ChallengeInfo {
  return { id: r.id, authorizationId: r.authorizationId, type: r.type, token: r.token, status: r.status, validated: r.validated, error: r.error };
}

/** a challenge of one of this account's authorizations; another account's is not found (404), like an unknown one */
export async function getChallenge(ctx: RaContext, account: AccountInfo, challengeId: string): Promise<ChallengeInfo> {
  const r = await findChallenge(ctx.store, challengeId, account.id);
  if (!r) throw acmeErr.notFound();
  return challengeInfo(r);
}

/**
 * RFC 8555 §7.5.1: the client asks for a challenge to be validated. Moves it
 * pending -> processing with one conditional UPDATE (transitions.ts
 * challengeCanStart, in SQL), so of concurrent POSTs exactly one `started`
 * is true (and starts a validation).
 */
export async function startChallenge(
  ctx: RaContext,
  account: AccountInfo,
  challengeId: string,
  dir?: DirectoryInfo,
): Promise<{ challenge: ChallengeInfo; started: boolean; job?: ChallengeJob }> {
  // docs/rate-limits.md: refused while the account's failed validations of this identifier are used up
  if (dir) await checkFailedValidations(ctx, dir, account, challengeId);
  // a type the directory no longer offers (its policy changed after the authorization was made) is not
  // started: the conditional UPDATE skips it, so the common case stays one statement
  const r = await startChallengeRow(ctx.store, { challengeId, accountId: account.id, now: ctx.clock.now(), offeredTypes: dir?.challengeTypes });
  if (!r) {
    const existing = await getChallenge(ctx, account, challengeId);
    // RFC 8555 §7.5.1 leaves the choice to the server; malformed, as Boulder answers it; nothing was written
    if (dir && existing.status === "pending" && !dir.challengeTypes.includes(existing.type)) throw acmeErr.malformed(CHALLENGE_TYPE_NOT_ENABLED(existing.type));
    return { challenge: existing, started: false };
  }
  return {
    challenge: challengeInfo(r.challenge),
    started: true,
    // what the validation needs, so it does not read it again
    job: {
      type: r.challenge.type,
      token: r.challenge.token,
      authorizationId: r.challenge.authorizationId,
      identifierType: r.identifierType,
      identifierValue: r.identifierValue,
      accountId: account.id,
      organizationId: account.organizationId,
      directoryId: account.directoryId,
      keyThumbprint: account.keyThumbprint,
      attempts: r.attempts,
      wildcard: r.wildcard,
    },
  };
}
