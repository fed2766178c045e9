/**
 * Issuance policies of the admin plane (issue 13 item 7,
 * docs/issuance-policies.md): their administration (organization admins or
 * a superuser write, members read; every change audited with the old and
 * new rules in its transaction) and their enforcement in IssueCertificate,
 * SignCsr and RenewCertificate (enforceIssuancePolicies, one call inside
 * the issuing transaction, before anything is signed).
 *
 * Who is bound: users (admins included) and service accounts of the
 * issuing CA's organization, by the organization's policy and by their own.
 * Superusers and the server itself are not (they stand above
 * organizations; a policy cannot name a superuser). No policy applying:
 * today's behaviour (the permission rule and the organization's settings).
 *
 * A refusal is PERMISSION_DENIED (reason ISSUANCE_POLICY_DENIED), not
 * FAILED_PRECONDITION: the request is well-formed and the CA able to
 * issue, but this principal is not allowed this certificate; no change of
 * state on the caller's side makes the same request pass. Every refused
 * name, and the CA, kind, validity or key type, is one field violation
 * (google.rpc.BadRequest). The refusal is audited (cert_policy_denied), in
 * a transaction of its own since the issuing one rolls back.
 */
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import { findCa } from "../db/store/certificate-authorities.js";
import { isUniqueViolation } from "../db/store/constraint-errors.js";
import {
  applyingIssuancePolicies,
  deleteIssuancePolicy as deletePolicyRow,
  findIssuancePolicy,
  findIssuancePolicyOfSubject,
  insertIssuancePolicy,
  listIssuancePolicies as listPolicyRows,
  updateIssuancePolicy as updatePolicyRow,
  type IssuancePolicyRecord,
  type IssuancePolicySubjectType,
  type PolicySubject,
} from "../db/store/issuance-policies.js";
import { organizationExists } from "../db/store/organizations.js";
import { findServiceAccount } from "../db/store/service-accounts.js";
import type { Session } from "../db/store/session.js";
import { findUser } from "../db/store/users.js";
import {
  checkIssuancePolicyDescription,
  checkIssuancePolicyRules,
  defaultValidityUnder,
  evaluateIssuancePolicies,
  ISSUANCE_POLICY_MESSAGES,
  ISSUE_FIELDS,
  type AppliedPolicy,
  type IssuancePolicyRules,
  type IssuanceRequest,
  type RequestFields,
} from "../policy/issuance-policies.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import type { Page } from "./certificate-authorities.js";
import { visibleOrganization } from "./certificate-authorities/common.js";
import { inTransaction, type RaContext, type SqlTx, type Tx } from "./context.js";
import { requireId } from "./input.js";
import { notFoundFor } from "./not-found.js";
import { nextPageToken, parsePage } from "./paging.js";

export type { IssuancePolicyRecord, IssuancePolicySubjectType };

/** google.rpc.ErrorInfo reason of a refusal by an issuance policy */
export const ISSUANCE_POLICY_DENIED = "ISSUANCE_POLICY_DENIED";

/** The rules as a caller gives them (kinds and key types as strings; checked here). */
export interface IssuancePolicyRulesInput {
  dnsNames?: readonly string[];
  emails?: readonly string[];
  ipRanges?: readonly string[];
  caIds?: readonly string[];
  certificateKinds?: readonly string[];
  maxValidityDays?: number;
  keyTypes?: readonly string[];
}

export interface CreateIssuancePolicyInput {
  subjectType: IssuancePolicySubjectType;
  /** organization: its id (default: the caller's); user / serviceAccount: that principal's id */
  subjectId?: string;
  rules: IssuancePolicyRulesInput;
  description?: string;
}

const SUBJECT_LABEL: Record<IssuancePolicySubjectType, string> = {
  organization: "organization's issuance policy",
  user: "user's issuance policy",
  serviceAccount: "service account's issuance policy",
};

function checkRules(input: IssuancePolicyRulesInput): IssuancePolicyRules {
  return checkIssuancePolicyRules({
    dnsNames: [...(input.dnsNames ?? [])],
    emails: [...(input.emails ?? [])],
    ipRanges: [...(input.ipRanges ?? [])],
    caIds: [...(input.caIds ?? [])],
    certificateKinds: input.certificateKinds,
    maxValidityDays: input.maxValidityDays,
    keyTypes: input.keyTypes,
  });
}

/** Every listed CA must be one of the organization's (deleted ones are refused too): INVALID_ARGUMENT naming rules.ca_ids[i]. */
async function checkPolicyCas(s: Session, organizationId: string, caIds: readonly string[]): Promise<void> {
  const bad: Array<{ field: string; description: string }> = [];
  for (const [i, id] of caIds.entries()) {
    const ca = await findCa(s, id);
    if (!ca || ca.organization.id !== organizationId) bad.push({ field: `rules.ca_ids[${i}]`, description: "not a CA of the policy's organization" });
  }
  if (bad.length) throw SigilError.invalidArguments(bad);
}

/** The subject named by a create request, authorized for the caller (organization admin or superuser). */
async function resolveSubject(s: Session, actor: Actor, input: CreateIssuancePolicyInput): Promise<PolicySubject & { organizationId: string }> {
  switch (input.subjectType) {
    case "organization": {
      let orgId: string;
      if (input.subjectId) orgId = requireId(input.subjectId, "subject_id");
      else if ((actor.kind === "user" || actor.kind === "serviceAccount") && actor.organizationId) orgId = actor.organizationId;
      else throw SigilError.invalidArgument("required: the organization id", "subject_id");
      if (!(await organizationExists(s, orgId))) throw notFoundFor(actor, "organization not found");
      authorize(actor, orgId, "admin");
      return { organizationId: orgId };
    }
    case "user": {
      const id = requireId(input.subjectId ?? "", "subject_id");
      const user = await findUser(s, id);
      if (!user) throw notFoundFor(actor, "user not found");
      const orgId = user.organization?.id ?? null;
      if (orgId === null || user.role === "superuser") {
        // a superuser stands above organizations: no policy binds it (others learn nothing of it: the same NOT_FOUND as a missing user)
        if (!isSuperuser(actor)) throw notFoundFor(actor, "user not found");
        throw SigilError.invalidArgument("a superuser is not bound by issuance policies", "subject_id");
      }
      authorize(actor, orgId, "admin");
      return { organizationId: orgId, userId: user.id };
    }
    case "serviceAccount": {
      const id = requireId(input.subjectId ?? "", "subject_id");
      const sa = await findServiceAccount(s, id);
      if (!sa) throw notFoundFor(actor, "service account not found");
      authorize(actor, sa.organization.id, "admin");
      return { organizationId: sa.organization.id, serviceAccountId: sa.id };
    }
    default: {
      const never: never = input.subjectType;
      throw SigilError.invalidArgument(`unknown subject type ${String(never)}`, "subject_type");
    }
  }
}

/** What the audit entries say of a policy. */
function auditView(p: Pick<IssuancePolicyRecord, "rules" | "description">): Record<string, unknown> {
  return { ...p.rules, description: p.description };
}

/** Creates the policy of an organization, user or service account; ALREADY_EXISTS when the subject has one. */
export async function createIssuancePolicy(ctx: RaContext, actor: Actor, input: CreateIssuancePolicyInput): Promise<IssuancePolicyRecord> {
  const subject = await resolveSubject(ctx.store, actor, input);
  const rules = checkRules(input.rules);
  const description = checkIssuancePolicyDescription(input.description);
  await checkPolicyCas(ctx.store, subject.organizationId, rules.caIds);
  const exists = () => SigilError.alreadyExists("this subject already has an issuance policy; update it", "subject_id");
  try {
    return await inTransaction(ctx, async (tx) => {
      if (await findIssuancePolicyOfSubject(tx, subject)) throw exists();
      const p = await insertIssuancePolicy(tx, { id: uuidv7(), ...subject, rules, description }, ctx.clock.now());
      tx.audit(actor, {
        action: "issuance_policy_create",
        organizationId: p.organizationId,
        resourceType: "issuance_policy",
        resourceId: p.id,
        detail: { subjectType: p.subjectType, subjectId: p.subjectId, new: auditView(p) },
      });
      return p;
    });
  } catch (e) {
    // two creates for one subject at once: the unique index decides
    if (isUniqueViolation(e)) throw exists();
    throw e;
  }
}

async function loadPolicy(s: Session, actor: Actor, id: string, opts: { lock?: boolean } = {}): Promise<IssuancePolicyRecord> {
  const p = await findIssuancePolicy(s, requireId(id, "id"), opts);
  if (!p) throw notFoundFor(actor, "issuance policy not found");
  return p;
}

/** One policy (members of its organization may read it). */
export async function getIssuancePolicy(ctx: RaContext, actor: Actor, id: string): Promise<IssuancePolicyRecord> {
  const p = await loadPolicy(ctx.store, actor, id);
  authorize(actor, p.organizationId, "read");
  return p;
}

/** The policies of the caller's organization (or the one named), oldest first. */
export async function listIssuancePolicies(
  ctx: RaContext,
  actor: Actor,
  input: { organizationId?: string; pageSize: number; pageToken: string },
): Promise<Page<IssuancePolicyRecord>> {
  const page = parsePage(input.pageSize, input.pageToken);
  const org = visibleOrganization(actor, input.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  const { items, total } = await listPolicyRows(ctx.store, { organizationId: org ?? undefined, limit: page.limit, offset: page.offset });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Replaces a policy's rules and description; audited with both. */
export async function updateIssuancePolicy(
  ctx: RaContext,
  actor: Actor,
  id: string,
  input: { rules: IssuancePolicyRulesInput; description?: string },
): Promise<IssuancePolicyRecord> {
  const policyId = requireId(id, "id");
  const rules = checkRules(input.rules);
  const description = checkIssuancePolicyDescription(input.description);
  return inTransaction(ctx, async (tx) => {
    const before = await loadPolicy(tx, actor, policyId, { lock: true });
    authorize(actor, before.organizationId, "admin");
    await checkPolicyCas(tx, before.organizationId, rules.caIds);
    const after = await updatePolicyRow(tx, before.id, rules, description, ctx.clock.now());
    tx.audit(actor, {
      action: "issuance_policy_update",
      organizationId: after.organizationId,
      resourceType: "issuance_policy",
      resourceId: after.id,
      detail: { subjectType: after.subjectType, subjectId: after.subjectId, old: auditView(before), new: auditView(after) },
    });
    return after;
  });
}

/** Deletes a policy (its subject is no longer bound by it); audited with the old rules. */
export async function deleteIssuancePolicy(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const policyId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const before = await loadPolicy(tx, actor, policyId, { lock: true });
    authorize(actor, before.organizationId, "admin");
    await deletePolicyRow(tx, before.id);
    tx.audit(actor, {
      action: "issuance_policy_delete",
      organizationId: before.organizationId,
      resourceType: "issuance_policy",
      resourceId: before.id,
      detail: { subjectType: before.subjectType, subjectId: before.subjectId, old: auditView(before) },
    });
  });
}

/** What an issuance asks the policies about. */
export interface PolicyCheck {
  /** the issuing CA's organization */
  organizationId: string;
  request: Omit<IssuanceRequest, "validityDays">;
  /** the validity asked for, in days; undefined: none asked (`defaultDays` applies, clipped to the policies' maxima) */
  requestedDays: number | undefined;
  defaultDays: number;
  /** how refusals name the request's fields (default: IssueCertificate's) */
  fields?: RequestFields;
}

/** The policies binding `actor` when it issues from an organization's CA (none for superusers and the server). */
async function policiesFor(tx: Session, actor: Actor, organizationId: string): Promise<AppliedPolicy[]> {
  if (isSuperuser(actor)) return [];
  if (actor.kind !== "user" && actor.kind !== "serviceAccount") return [];
  const rows = await applyingIssuancePolicies(tx, {
    organizationId,
    userId: actor.kind === "user" ? actor.id : null,
    serviceAccountId: actor.kind === "serviceAccount" ? actor.id : null,
  });
  // the organization's policy binds its own members only; a principal's own binds it wherever it issues
  return rows
    .filter((r) => r.subjectType !== "organization" || r.organizationId === actor.organizationId)
    .map((r) => ({ label: SUBJECT_LABEL[r.subjectType], rules: r.rules }));
}

/** Why a principal bound by an issuance policy may not create, import or export a CA key. */
export const CA_KEYS_UNDER_POLICY = "an issuance policy binds this principal: it may not create or export CA keys";

/**
 * docs/issuance-policies.md "CA keys": a principal any issuance policy binds
 * may not create or import a CA (root or intermediate) nor export a CA's
 * private key: with a CA key of its own it could sign, offline, any name the
 * policy refuses it. PERMISSION_DENIED, reason ISSUANCE_POLICY_DENIED.
 * Superusers and the server are never bound.
 */
export async function refuseCaKeysUnderPolicy(s: Session, actor: Actor, organizationId: string): Promise<void> {
  if (!(await policiesFor(s, actor, organizationId)).length) return;
  throw new SigilError("permissionDenied", CA_KEYS_UNDER_POLICY, { reason: ISSUANCE_POLICY_DENIED });
}

/**
 * The issuance policies' decision, inside the issuing transaction (the
 * policies are read FOR SHARE: a concurrent change waits for this
 * issuance). Returns the validity in days to issue with; throws
 * PERMISSION_DENIED naming every refusal. No policy applying: the
 * requested (or default) validity, nothing refused.
 */
export async function enforceIssuancePolicies(tx: Tx | SqlTx, actor: Actor, check: PolicyCheck): Promise<number> {
  const policies = await policiesFor(tx, actor, check.organizationId);
  const days = check.requestedDays ?? defaultValidityUnder(policies, check.defaultDays);
  if (!policies.length) return days;
  const violations = evaluateIssuancePolicies(policies, { ...check.request, validityDays: days }, check.fields ?? ISSUE_FIELDS);
  if (violations.length) {
    const first = violations[0]!;
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : "";
    throw new SigilError("permissionDenied", `${ISSUANCE_POLICY_MESSAGES.refused}: ${first.description}${more}`, {
      violations,
      reason: ISSUANCE_POLICY_DENIED,
    });
  }
  return days;
}

/**
 * Runs an issuance; a refusal by an issuance policy is audited
 * (cert_policy_denied, with the refusals and the CA) in its own
 * transaction, after the issuing one rolled back, and rethrown.
 */
export async function auditingPolicyRefusals<T>(
  ctx: RaContext,
  actor: Actor,
  what: { organizationId: () => string | undefined; caId: string; operation: "issue" | "sign_csr" | "renew" },
  issue: () => Promise<T>,
): Promise<T> {
  try {
    return await issue();
  } catch (e) {
    const orgId = what.organizationId();
    if (e instanceof SigilError && e.reason === ISSUANCE_POLICY_DENIED && orgId) {
      await inTransaction(ctx, async (tx) => {
        tx.audit(actor, {
          action: "cert_policy_denied",
          organizationId: orgId,
          resourceType: "certificate_authority",
          resourceId: what.caId,
          detail: { operation: what.operation, refusals: e.violations.map((v) => ({ field: v.field, description: v.description })) },
        });
      });
    }
    throw e;
  }
}
