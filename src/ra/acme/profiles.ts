/**
 * ACME profiles (draft-ietf-acme-profiles-00): a directory's named issuance
 * profiles, managed through the admin API (organization admins write,
 * members read, each change audited in its transaction), and what the ACME
 * front end needs of them: the directory's profiles by name with its
 * default, read with the directory (ra/acme/directories.ts caches both).
 * The rules are src/policy/profiles.ts.
 */
import { SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { IdentifierType, LeafType } from "../../core/types.js";
import type { AcmeDirectory } from "../../db/entities/index.js";
import { getDirectoryEntity } from "../../db/store/acme-directories.js";
import {
  deleteProfile,
  findProfile,
  insertProfiles,
  listDirectoryProfiles,
  setDefaultProfile,
  updateProfile,
  type ProfileFields,
  type ProfileRecord,
} from "../../db/store/acme-profiles.js";
import type { Session } from "../../db/store/session.js";
import { authorize } from "../../policy/permissions.js";
import {
  checkProfileFields,
  checkProfileIdentifiers,
  checkProfileName,
  DEFAULT_PROFILE_NAME,
  directoryClassicProfile,
  kindWithin,
  leafCommonName,
  MAX_NOT_BEFORE_BACKDATE_MS,
  MAX_PROFILE_IDENTIFIERS,
  MAX_PROFILES_PER_DIRECTORY,
  PROFILE_IDENTIFIER_TYPES,
  PROFILE_MESSAGES,
  presetForDirectory,
  profileBase,
  profileKeyUsages,
  profileValidityMs,
  selectProfile,
  type DirectoryProfiles,
  type ProfileInput,
  type ProfileKeyUsage,
} from "../../policy/profiles.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext, type Tx } from "../context.js";
import { requireId } from "../input.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError, acmeErr, type AcmeSubproblem } from "./errors.js";
import { PENDING_LIFETIME_MS, VALID_AUTHZ_LIFETIME_MS } from "./transitions.js";
import { validityWithin } from "../../policy/engine.js";

export type { ProfileRecord };

const DAY_SECONDS = 86_400;

/** A directory's profiles as newOrder and finalize use them. */
export async function loadDirectoryProfiles(s: Session, directoryId: string): Promise<DirectoryProfiles> {
  const rows = await listDirectoryProfiles(s, directoryId);
  return profilesOf(rows);
}

function profilesOf(rows: readonly ProfileRecord[]): DirectoryProfiles {
  const byName = new Map<string, ProfileFields>();
  let defaultName: string | null = null;
  for (const r of rows) {
    byName.set(r.name, r);
    if (r.isDefault) defaultName = r.name;
  }
  return { byName, defaultName };
}

/** What the audit entry says of a profile's rules. */
function auditFields(p: ProfileFields): Record<string, unknown> {
  return {
    certificateKind: p.certificateKind,
    maxValiditySeconds: p.maxValiditySeconds,
    keyUsages: p.keyUsages,
    includeCommonName: p.includeCommonName,
    maxIdentifiers: p.maxIdentifiers,
    identifierTypes: p.identifierTypes,
    authorizationReuseSeconds: p.authorizationReuseSeconds,
    orderLifetimeSeconds: p.orderLifetimeSeconds,
    pendingAuthorizationLifetimeSeconds: p.pendingAuthorizationLifetimeSeconds,
  };
}

/**
 * The profiles a new directory starts with, in its creating transaction:
 * `classic` from the directory's own kind and validity (it issues as a
 * directory did before profiles), plus the named presets (clipped to the
 * directory's max_validity_days). `defaultName` (default `classic`) must be
 * one of them. Bootstrap gives the default directory all four presets.
 */
export async function createDirectoryProfiles(
  tx: Tx,
  dir: AcmeDirectory,
  now: Date,
  opts: { presets?: readonly string[]; defaultName?: string; classicFromDirectory?: boolean } = {},
): Promise<string[]> {
  const profiles: ProfileFields[] = [];
  const classic = opts.classicFromDirectory === false ? presetForDirectory(DEFAULT_PROFILE_NAME, dir)! : directoryClassicProfile(dir);
  profiles.push(classic);
  for (const name of opts.presets ?? []) {
    if (profiles.some((p) => p.name === name)) continue;
    const p = presetForDirectory(name, dir);
    if (!p) throw SigilError.invalidArgument(PROFILE_MESSAGES.preset(name), "default_profile");
    profiles.push(p);
  }
  const defaultName = opts.defaultName || DEFAULT_PROFILE_NAME;
  if (!profiles.some((p) => p.name === defaultName)) throw SigilError.invalidArgument(PROFILE_MESSAGES.preset(defaultName), "default_profile");
  // the directory's kind bounds its profiles' (review 2 M6): a server directory gets no tlsclient
  const outside = profiles.find((p) => !kindWithin(dir.certificateKind, p.certificateKind));
  if (outside) throw SigilError.invalidArgument(PROFILE_MESSAGES.kindOutsideDirectory(outside.certificateKind, dir.certificateKind), "default_profile");
  setDefaultProfile(tx, dir, defaultName);
  await insertProfiles(
    tx,
    profiles.map((p) => ({ ...p, id: uuidv7(), directoryId: dir.id })),
    now,
  );
  return profiles.map((p) => p.name);
}

async function loadDirectory(s: Session, id: string, lock = false): Promise<AcmeDirectory> {
  const dir = await getDirectoryEntity(s, requireId(id, "directory_id"), { lock });
  if (!dir) throw SigilError.notFound("ACME directory not found");
  return dir;
}

export interface CreateAcmeProfileInput extends ProfileInput {
  directoryId: string;
  name: string;
  /** start from this preset's rules (default: classic's) */
  preset?: string;
}

/** A new profile of a directory. Organization admins only. */
export async function createAcmeProfile(ctx: RaContext, actor: Actor, input: CreateAcmeProfileInput): Promise<ProfileRecord> {
  const name = checkProfileName(input.name);
  const base = profileBase(input.preset || undefined);
  return inTransaction(ctx, async (tx) => {
    // the directory row locked: profile count and default checks see every concurrent change
    const dir = await loadDirectory(tx, input.directoryId, true);
    authorize(actor, dir.organization.id, "admin");
    const fields = checkProfileFields(name, base, input, dir.maxValidityDays * DAY_SECONDS, dir.certificateKind);
    const existing = await listDirectoryProfiles(tx, dir.id);
    if (existing.some((p) => p.name === name)) throw SigilError.alreadyExists(`the directory has a profile "${name}"`, "name");
    if (existing.length >= MAX_PROFILES_PER_DIRECTORY) throw SigilError.failedPrecondition(PROFILE_MESSAGES.tooMany);
    const id = uuidv7();
    const [written] = await insertProfiles(tx, [{ ...fields, id, directoryId: dir.id }], ctx.clock.now());
    if (!written) throw SigilError.alreadyExists(`the directory has a profile "${name}"`, "name");
    tx.audit(actor, {
      action: "acme_profile_create",
      organizationId: dir.organization.id,
      resourceType: "acme_profile",
      resourceId: id,
      detail: { directory: dir.name, name, ...(input.preset ? { preset: input.preset } : {}), ...auditFields(fields) },
    });
    const created = await findProfile(tx, id);
    if (!created) throw SigilError.internal("the profile just created cannot be read");
    return created;
  });
}

async function readableProfile(ctx: RaContext, actor: Actor, id: string): Promise<ProfileRecord> {
  const p = await findProfile(ctx.store, requireId(id, "id"));
  if (!p) throw SigilError.notFound("ACME profile not found");
  const dir = await loadDirectory(ctx.store, p.directoryId);
  authorize(actor, dir.organization.id, "read");
  return p;
}

export async function getAcmeProfile(ctx: RaContext, actor: Actor, id: string): Promise<ProfileRecord> {
  return readableProfile(ctx, actor, id);
}

/** A directory's profiles, by name. Members of the organization may read. */
export async function listAcmeProfiles(ctx: RaContext, actor: Actor, directoryId: string): Promise<ProfileRecord[]> {
  const dir = await loadDirectory(ctx.store, directoryId);
  authorize(actor, dir.organization.id, "read");
  return listDirectoryProfiles(ctx.store, dir.id);
}

/**
 * Changes a profile's rules (its name is what orders refer to, so it stays).
 * Orders placed under it before keep their lifetimes and authorizations; a
 * finalize after the change issues under the new rules.
 */
export async function updateAcmeProfile(ctx: RaContext, actor: Actor, id: string, input: ProfileInput): Promise<ProfileRecord> {
  const profileId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const before = await findProfile(tx, profileId, { lock: true });
    if (!before) throw SigilError.notFound("ACME profile not found");
    const dir = await loadDirectory(tx, before.directoryId);
    authorize(actor, dir.organization.id, "admin");
    const after = checkProfileFields(before.name, before, input, dir.maxValidityDays * DAY_SECONDS, dir.certificateKind);
    const changed: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(after) as Array<[keyof ProfileFields, unknown]>) {
      if (JSON.stringify(before[k]) !== JSON.stringify(v)) changed[k] = v;
    }
    await updateProfile(tx, profileId, after, ctx.clock.now());
    tx.audit(actor, {
      action: "acme_profile_update",
      organizationId: dir.organization.id,
      resourceType: "acme_profile",
      resourceId: profileId,
      detail: { directory: dir.name, name: before.name, changed },
    });
    const updated = await findProfile(tx, profileId);
    if (!updated) throw SigilError.internal("the profile just changed cannot be read");
    return updated;
  });
}

/**
 * Deletes a profile. The directory's default cannot be deleted
 * (FAILED_PRECONDITION: make another one the default first). Orders placed
 * under it can no longer be finalized (draft-ietf-acme-profiles-00 §4:
 * invalidProfile); orders in flight are the operator's to let expire first.
 */
export async function deleteAcmeProfile(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const profileId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const p = await findProfile(tx, profileId, { lock: true });
    if (!p) throw SigilError.notFound("ACME profile not found");
    const dir = await loadDirectory(tx, p.directoryId, true);
    authorize(actor, dir.organization.id, "admin");
    if (dir.defaultProfile === p.name) {
      throw SigilError.failedPrecondition(`"${p.name}" is the directory's default profile; make another profile the default first`, { type: "DEFAULT_PROFILE", subject: `acme_profiles/${p.id}` });
    }
    await deleteProfile(tx, profileId);
    tx.audit(actor, {
      action: "acme_profile_delete",
      organizationId: dir.organization.id,
      resourceType: "acme_profile",
      resourceId: profileId,
      detail: { directory: dir.name, name: p.name },
    });
  });
}

/**
 * Makes `name` the default profile of a directory loaded (and locked) in
 * this transaction; the caller authorized the change and audits it. The
 * name must be one of the directory's profiles.
 */
export async function changeDefaultProfile(tx: Tx, dir: AcmeDirectory, name: string): Promise<boolean> {
  const wanted = checkProfileName(name, "default_profile");
  if (dir.defaultProfile === wanted) return false;
  const profiles = await listDirectoryProfiles(tx, dir.id);
  if (!profiles.some((p) => p.name === wanted)) throw SigilError.invalidArgument(`the directory has no profile "${wanted}"`, "default_profile");
  setDefaultProfile(tx, dir, wanted);
  return true;
}

/** The profiles of directories (admin views), by directory id. */
export async function profilesOfDirectory(ctx: RaContext, directoryId: string): Promise<ProfileRecord[]> {
  return listDirectoryProfiles(ctx.store, directoryId);
}

// ---------------------------------------------------------------------------
// one order

/** What a profile means for one order (newOrder and finalize), as plain numbers. */
export interface OrderProfile {
  /** stored on the order and echoed in it (draft-ietf-acme-profiles-00 §4); null: the directory has no profiles */
  name: string | null;
  /** the client named it (rather than getting the default) */
  explicit: boolean;
  certificateKind: LeafType;
  /** the longest certificate: the profile's, bounded by the directory's max_validity_days */
  validityMs: number;
  includeCommonName: boolean;
  /** undefined: the signer's default key usages */
  keyUsages?: ProfileKeyUsage[];
  maxIdentifiers: number;
  identifierTypes: readonly IdentifierType[];
  orderLifetimeMs: number;
  pendingAuthorizationLifetimeMs: number;
  authorizationReuseMs: number;
}

function orderProfileOf(dir: DirectoryInfo, p: ProfileFields, explicit: boolean): OrderProfile {
  // the directory's kind bounds the profile's (review 2 M6), also for a profile made
  // before the directory's kind was narrowed: such a profile issues nothing
  if (!kindWithin(dir.certificateKind, p.certificateKind)) throw acmeErr.invalidProfile(PROFILE_ORDER_MESSAGES.kind(p.name, p.certificateKind, dir.certificateKind));
  return {
    name: p.name,
    explicit,
    certificateKind: p.certificateKind,
    validityMs: profileValidityMs(p, dir.maxValidityDays),
    includeCommonName: p.includeCommonName,
    keyUsages: profileKeyUsages(p),
    maxIdentifiers: p.maxIdentifiers,
    identifierTypes: p.identifierTypes,
    orderLifetimeMs: p.orderLifetimeSeconds * 1000,
    pendingAuthorizationLifetimeMs: p.pendingAuthorizationLifetimeSeconds * 1000,
    authorizationReuseMs: p.authorizationReuseSeconds * 1000,
  };
}

/** a directory without profiles: its own policy, exactly as before profiles */
function directoryOnlyProfile(dir: DirectoryInfo): OrderProfile {
  return {
    name: null,
    explicit: false,
    certificateKind: dir.certificateKind,
    validityMs: dir.maxValidityDays * 86_400_000,
    includeCommonName: true,
    maxIdentifiers: MAX_PROFILE_IDENTIFIERS,
    identifierTypes: PROFILE_IDENTIFIER_TYPES,
    orderLifetimeMs: PENDING_LIFETIME_MS,
    pendingAuthorizationLifetimeMs: PENDING_LIFETIME_MS,
    authorizationReuseMs: VALID_AUTHZ_LIFETIME_MS,
  };
}

/**
 * draft-ietf-acme-profiles-00 §4, newOrder: the profile named (it must be
 * one the directory advertises, or invalidProfile), or the directory's
 * default when none is named.
 */
export function newOrderProfile(dir: DirectoryInfo, requested: string | undefined): OrderProfile {
  const selected = selectProfile(dir.profiles, requested);
  if (selected === "unknown") throw acmeErr.invalidProfile(PROFILE_ORDER_MESSAGES.unknown(requested ?? ""));
  if (selected === "none") return directoryOnlyProfile(dir);
  return orderProfileOf(dir, selected.profile, selected.explicit);
}

export const PROFILE_ORDER_MESSAGES = {
  unknown: (name: string) => `this directory does not offer the profile ${JSON.stringify(name.slice(0, 64))} (see meta.profiles in the directory)`,
  gone: (name: string) => `the profile ${JSON.stringify(name)} of this order is no longer offered; place a new order`,
  kind: (name: string, kind: string, dirKind: string) => `the profile ${JSON.stringify(name)} issues ${kind} certificates, which this ${dirKind} directory does not`,
  identifiersNow: (name: string) => `the identifiers of this order are no longer allowed under profile ${JSON.stringify(name)}; place a new order`,
  notBeforePast: "the order's notBefore is now more than a day in the past (CA/B BR §7.1.2.7 allows little backdating); place a new order",
  notAfterBeyond: (name: string, validity: string) => `the order's notAfter is beyond what profile ${JSON.stringify(name)} now allows (${validity} from notBefore); place a new order`,
} as const;

/**
 * The order's identifiers against its profile. Too many: malformed (RFC
 * 8555 §7.4 leaves the limit to the server, Boulder answers malformed too).
 * A type the profile does not issue for: when the client named the profile,
 * the request is incompatible with it (draft-ietf-acme-profiles-00 §4:
 * invalidProfile); under the default profile the identifier is refused
 * (RFC 8555 §6.7 rejectedIdentifier). One subproblem per identifier.
 */
export function checkOrderProfileIdentifiers(profile: OrderProfile, identifiers: ReadonlyArray<{ type: string; value: string }>): void {
  if (profile.name === null) return;
  const r = checkProfileIdentifiers({ name: profile.name, maxIdentifiers: profile.maxIdentifiers, identifierTypes: [...profile.identifierTypes] }, identifiers);
  if (!r) return;
  if ("tooMany" in r) throw acmeErr.malformed(r.tooMany);
  const type = profile.explicit ? "invalidProfile" : "rejectedIdentifier";
  const subproblems: AcmeSubproblem[] = r.wrongType.map((w) => ({ type: "rejectedIdentifier", detail: w.detail, identifier: w.identifier }));
  const detail = r.wrongType.length === 1 ? r.wrongType[0]!.detail : `${r.wrongType.length} identifiers are not issued under profile "${profile.name}"`;
  throw new AcmeError(type === "invalidProfile" ? "invalidArgument" : "rejectedIdentifier", type, detail, { subproblems });
}

/**
 * Finalize: the profile the order was placed under, as the directory has it
 * now. Gone since (deleted): invalidProfile (draft-ietf-acme-profiles-00
 * §4). An order from before profiles (null) issues under the directory's
 * default, which the migration made from the directory's own policy.
 */
export function finalizeProfile(dir: DirectoryInfo, orderProfile: string | null | undefined): OrderProfile {
  if (orderProfile) {
    const p = dir.profiles?.byName.get(orderProfile);
    if (!p) throw acmeErr.invalidProfile(PROFILE_ORDER_MESSAGES.gone(orderProfile));
    return orderProfileOf(dir, p, true);
  }
  const selected = selectProfile(dir.profiles, undefined);
  return selected === "none" || selected === "unknown" ? directoryOnlyProfile(dir) : orderProfileOf(dir, selected.profile, false);
}

/** "90 days", "160 hours": a validity as a client reads it */
export function validityText(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  return hours % 24 === 0 ? `${hours / 24} days` : `${hours} hours`;
}

/** The certificate a finalize issues, as the profile and the order say now. */
export interface FinalizeTerms {
  notBefore: Date;
  notAfter: Date;
  /** undefined: no subject CN */
  commonName?: string;
}

/**
 * Finalize re-checks what newOrder checked, against the profile as it is
 * now (it may have changed since; orders live up to 30 days). Each refusal
 * is thrown before anything is signed or written (the finalize transaction
 * rolls back; the order stays ready):
 * - the identifiers against the profile's count and types (review 2 M7):
 *   invalidProfile (draft-ietf-acme-profiles-00 §4), one subproblem per
 *   identifier;
 * - a requested notBefore more than a day before now: malformed (CA/B BR
 *   §7.1.2.7 tolerates up to 48 hours of backdating; never clamped, the
 *   client asked for that date);
 * - a requested notAfter further from now than the profile's validity
 *   (newOrder's rule, met when the order was placed): invalidProfile, the
 *   profile was narrowed since (not clamped silently).
 * A certificate never lives longer than the profile's validity: a notAfter
 * within newOrder's rule but past notBefore + validity (a backdated
 * notBefore) is cut to notBefore + validity (docs/profiles.md). Without a
 * requested notAfter the certificate gets the profile's full validity. A
 * CSR CN over 64 characters is left out (leafCommonName).
 */
export function finalizeTerms(
  profile: OrderProfile,
  order: { identifiers: ReadonlyArray<{ type: string; value: string }>; notBefore?: Date | null; notAfter?: Date | null },
  csrCommonName: string | undefined,
  now: Date,
): FinalizeTerms {
  if (profile.name !== null) {
    const r = checkProfileIdentifiers({ name: profile.name, maxIdentifiers: profile.maxIdentifiers, identifierTypes: [...profile.identifierTypes] }, order.identifiers);
    if (r && "tooMany" in r) throw acmeErr.invalidProfile(`${PROFILE_ORDER_MESSAGES.identifiersNow(profile.name)}: ${r.tooMany}`);
    if (r) {
      const subproblems: AcmeSubproblem[] = r.wrongType.map((w) => ({ type: "rejectedIdentifier", detail: w.detail, identifier: w.identifier }));
      throw acmeErr.invalidProfile(PROFILE_ORDER_MESSAGES.identifiersNow(profile.name), subproblems);
    }
  }
  if (order.notBefore && order.notBefore.getTime() < now.getTime() - MAX_NOT_BEFORE_BACKDATE_MS) throw acmeErr.malformed(PROFILE_ORDER_MESSAGES.notBeforePast);
  // the validity counts from notBefore (backdated a minute for relying parties' clock skew, as issueLeaf does by default)
  const notBefore = order.notBefore ?? new Date(now.getTime() - 60_000);
  const maxNotAfter = new Date(notBefore.getTime() + profile.validityMs);
  // newOrder's rule (at most the validity from now, a minute of slack), applied now: an
  // unchanged profile never refuses here (now is later), a narrowed one does
  if (order.notAfter && !validityWithin(order.notAfter.getTime() - now.getTime(), profile.validityMs + 60_000)) {
    throw acmeErr.invalidProfile(PROFILE_ORDER_MESSAGES.notAfterBeyond(profile.name ?? "", validityText(profile.validityMs)));
  }
  const notAfter = order.notAfter && order.notAfter < maxNotAfter ? order.notAfter : maxNotAfter;
  return { notBefore, notAfter, commonName: leafCommonName(profile.includeCommonName, csrCommonName) };
}
