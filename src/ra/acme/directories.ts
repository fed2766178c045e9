/**
 * ACME directories: lookup (cached briefly, the directory is read on every
 * request) and creation with its policy (CLI / admin), EAB key creation.
 */
import { randomBytes } from "node:crypto";
import { SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { AcmeChallengeType } from "../../core/types.js";
import { AcmeDirectory, AcmeEabKey, CertificateAuthority, Organization } from "../../db/entities/index.js";
import type { AcmeCertificateKind } from "../../db/entities/acme.js";
import { parseCidr } from "../../policy/identifiers.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";

/** What the ACME front end needs of a directory, as plain data. */
export interface DirectoryInfo {
  id: string;
  name: string;
  organizationId: string;
  caId: string;
  eabRequired: boolean;
  allowedDnsSuffixes: string[];
  allowedIpRanges: string[];
  challengeTypes: AcmeChallengeType[];
  maxValidityDays: number;
  certificateKind: AcmeCertificateKind;
  termsOfServiceUrl: string | null;
  websiteUrl: string | null;
  caaIdentities: string[];
}

interface DirectoryRow {
  id: string;
  name: string;
  organization_id: string;
  ca_id: string;
  eab_required: boolean;
  allowed_dns_suffixes: string[];
  allowed_ip_ranges: string[];
  challenge_types: AcmeChallengeType[];
  max_validity_days: number;
  certificate_kind: AcmeCertificateKind;
  terms_of_service_url: string | null;
  website_url: string | null;
  caa_identities: string[];
}

/** Directory rows by name, kept for `ttlMs` (policy edits show up within it). */
export class DirectoryCache {
  private readonly cache = new Map<string, { at: number; dir: DirectoryInfo | null }>();
  constructor(
    private readonly ctx: RaContext,
    private readonly ttlMs = 5_000,
  ) {}

  async get(name: string): Promise<DirectoryInfo | null> {
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit && now - hit.at < this.ttlMs) return hit.dir;
    const rows = await this.ctx.orm.em
      .getConnection()
      .execute<DirectoryRow[]>(`select * from acme_directories where name = ?`, [name]);
    const r = rows[0];
    const dir: DirectoryInfo | null = r
      ? {
          id: r.id,
          name: r.name,
          organizationId: r.organization_id,
          caId: r.ca_id,
          eabRequired: r.eab_required,
          allowedDnsSuffixes: r.allowed_dns_suffixes,
          allowedIpRanges: r.allowed_ip_ranges,
          challengeTypes: r.challenge_types,
          maxValidityDays: r.max_validity_days,
          certificateKind: r.certificate_kind,
          termsOfServiceUrl: r.terms_of_service_url,
          websiteUrl: r.website_url,
          caaIdentities: r.caa_identities,
        }
      : null;
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(name, { at: now, dir });
    return dir;
  }

  invalidate(name?: string): void {
    if (name) this.cache.delete(name);
    else this.cache.clear();
  }
}

export interface CreateDirectoryRequest {
  name: string;
  /** CA id or name (within the organization when given) */
  ca: string;
  /** organization name or id; default: the CA's */
  organization?: string;
  eabRequired?: boolean;
  certificateKind?: AcmeCertificateKind;
  allowedDnsSuffixes?: string[];
  allowedIpRanges?: string[];
  challengeTypes?: AcmeChallengeType[];
  maxValidityDays?: number;
  termsOfServiceUrl?: string;
  websiteUrl?: string;
  /** meta.caaIdentities (RFC 8555 §7.1.1); default none (added for the admin API) */
  caaIdentities?: string[];
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DIRECTORY_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const CHALLENGE_TYPES: readonly AcmeChallengeType[] = ["http-01", "dns-01", "tls-alpn-01"];

export async function createDirectory(ctx: RaContext, actor: Actor, req: CreateDirectoryRequest): Promise<AcmeDirectory> {
  if (!DIRECTORY_NAME.test(req.name)) throw SigilError.invalidArgument("name: lower-case letters, digits, '.', '_' and '-' (max 64)", "name");
  const kind = req.certificateKind ?? "server";
  if (!["server", "client", "dual"].includes(kind)) throw SigilError.invalidArgument("kind: server, client or dual", "kind");
  const challengeTypes = req.challengeTypes ?? [...CHALLENGE_TYPES];
  if (!challengeTypes.length || challengeTypes.some((t) => !CHALLENGE_TYPES.includes(t))) {
    throw SigilError.invalidArgument("challenges: a non-empty list of http-01, dns-01, tls-alpn-01", "challenges");
  }
  for (const r of req.allowedIpRanges ?? []) if (!parseCidr(r)) throw SigilError.invalidArgument(`allow-ip: "${r}" is not a CIDR range`, "allowIp");
  const maxValidityDays = req.maxValidityDays ?? 90;
  if (!Number.isInteger(maxValidityDays) || maxValidityDays < 1 || maxValidityDays > 3650) {
    throw SigilError.invalidArgument("max-validity-days: 1..3650", "maxValidityDays");
  }
  return inTransaction(ctx, async (tx) => {
    let org: Organization | null = null;
    if (req.organization) {
      org = await tx.em.findOne(Organization, UUID_RE.test(req.organization) ? { id: req.organization } : { name: req.organization });
      if (!org) throw SigilError.notFound(`organization "${req.organization}" not found`);
    }
    const caWhere: Record<string, unknown> = UUID_RE.test(req.ca) ? { id: req.ca } : { name: req.ca };
    if (org) caWhere.organization = org.id;
    const cas = await tx.em.find(CertificateAuthority, caWhere);
    if (cas.length === 0) throw SigilError.notFound(`CA "${req.ca}" not found`);
    if (cas.length > 1) throw SigilError.invalidArgument(`CA name "${req.ca}" is ambiguous; give --org or the CA id`, "ca");
    const ca = cas[0]!;
    if (!ca.allowLeafCerts) throw SigilError.failedPrecondition(`CA "${ca.name}" does not issue leaf certificates`);
    const orgId = org?.id ?? ca.organization.id;
    if (ca.organization.id !== orgId) throw SigilError.invalidArgument("the CA belongs to another organization", "ca");
    if (await tx.em.count(AcmeDirectory, { name: req.name })) throw SigilError.alreadyExists(`ACME directory "${req.name}" exists`, "name");
    const d = tx.em.create(AcmeDirectory, {
      id: uuidv7(),
      name: req.name,
      organization: tx.em.getReference(Organization, orgId),
      ca,
      eabRequired: req.eabRequired ?? false,
      allowedDnsSuffixes: (req.allowedDnsSuffixes ?? []).map((s) => s.toLowerCase()),
      allowedIpRanges: req.allowedIpRanges ?? [],
      challengeTypes,
      maxValidityDays,
      certificateKind: kind,
      termsOfServiceUrl: req.termsOfServiceUrl ?? null,
      websiteUrl: req.websiteUrl ?? null,
      caaIdentities: req.caaIdentities ?? [],
    } as unknown as AcmeDirectory);
    tx.audit(actor, {
      action: "acme_directory_create",
      organizationId: orgId,
      resourceType: "acme_directory",
      resourceId: d.id,
      detail: { name: req.name, caId: ca.id, eabRequired: d.eabRequired, certificateKind: kind },
    });
    return d;
  });
}

/** AAD binding an encrypted EAB HMAC key to its row */
export function eabKeyAad(eabKeyId: string): string {
  return `acme-eab:${eabKeyId}`;
}

/**
 * RFC 8555 §7.3.4: a new EAB key for a directory. Returns the key id (the
 * `kid` clients send) and the HMAC key (base64url), shown once; the key is
 * stored encrypted under the master key.
 */
export async function createEabKey(
  ctx: RaContext,
  actor: Actor,
  req: { directory: string; description?: string },
): Promise<{ kid: string; hmacKey: string; directoryId: string }> {
  return inTransaction(ctx, async (tx) => {
    const dir = await tx.em.findOne(AcmeDirectory, { name: req.directory });
    if (!dir) throw SigilError.notFound(`ACME directory "${req.directory}" not found`);
    const key = randomBytes(32);
    const row = tx.em.create(AcmeEabKey, {
      id: uuidv7(),
      directory: dir,
      organization: tx.em.getReference(Organization, dir.organization.id),
      encryptedHmacKey: "",
      description: req.description ?? "",
    } as unknown as AcmeEabKey);
    row.encryptedHmacKey = ctx.keyRing.encrypt(key, eabKeyAad(row.id));
    tx.audit(actor, {
      action: "eab_create",
      organizationId: dir.organization.id,
      resourceType: "acme_eab_key",
      resourceId: row.id,
      detail: { directory: dir.name },
    });
    return { kid: row.id, hmacKey: key.toString("base64url"), directoryId: dir.id };
  });
}
