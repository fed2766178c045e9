/**
 * ACME directories: lookup (cached briefly, the directory is read on every
 * request), creation with its policy, EAB key creation. The policy rules are
 * src/policy/directory-policy.ts, the same for every entry point (the admin
 * API in ra/acme-admin.ts calls createDirectory after authorizing).
 */
import { randomBytes } from "node:crypto";
import { SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { AcmeChallengeType, CaStatus } from "../../core/types.js";
import type { AcmeDirectory } from "../../db/entities/index.js";
import {
  directoryNameTaken,
  findDirectoryByName,
  findIssuingCaCandidates,
  findOrganizationId,
  insertDirectory,
  type DirectoryRecord,
  type IdOrName,
  type IssuingCaCandidate,
  type DirectoryRateLimitRow,
} from "../../db/store/acme-directories.js";
import { setDirectoryRateLimits } from "../../db/store/rate-limits.js";
import { insertEabKey } from "../../db/store/acme-eab-keys.js";
import { checkDirectoryName, checkDirectoryPolicy, type DirectoryPolicyInput } from "../../policy/directory-policy.js";
import type { DirectoryProfiles } from "../../policy/profiles.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { InFlight } from "./in-flight.js";
import { createDirectoryProfiles, loadDirectoryProfiles } from "./profiles.js";

/**
 * What the ACME front end needs of a directory, as plain data, with its
 * profiles (draft-ietf-acme-profiles-00; absent: none, the directory's own
 * policy applies as before profiles).
 */
export type DirectoryInfo = DirectoryRecord & { profiles?: DirectoryProfiles };

/**
 * Directory rows by name, kept for `ttlMs` (policy edits show up within it).
 * One read per name at a time (issue 11: when the entry expired under load,
 * every request in flight read the directory and its profiles again, ~0.6
 * statement pairs per certificate at 64 clients); the requests arriving
 * meanwhile wait for that read.
 */
export class DirectoryCache {
  /**
   * Found directories, least recently used first (a Map keeps insertion
   * order; a hit moves the entry to the end): past `maxEntries` the oldest
   * one goes, not the whole cache. Names that are no directory are kept
   * apart, for at most `missTtlMs` and `maxMisses` entries: a flood of
   * made-up names costs one read per name and second, and never evicts a
   * real directory (review 2).
   */
  private readonly cache = new Map<string, { at: number; dir: DirectoryInfo }>();
  private readonly misses = new Map<string, number>();
  static readonly maxEntries = 1000;
  static readonly maxMisses = 10_000;
  private readonly missTtlMs: number;
  private readonly loading = new InFlight<string, DirectoryInfo | null>();
  private generation = 0;
  constructor(
    private readonly ctx: Pick<RaContext, "store">,
    private readonly ttlMs = 5_000,
  ) {
    this.missTtlMs = Math.min(ttlMs, 1_000);
  }

  async get(name: string): Promise<DirectoryInfo | null> {
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit && now - hit.at < this.ttlMs) {
      this.cache.delete(name);
      this.cache.set(name, hit);
      return hit.dir;
    }
    const missAt = this.misses.get(name);
    if (missAt !== undefined && now - missAt < this.missTtlMs) return null;
    const generation = this.generation;
    return this.loading.run(name, async () => {
      const at = Date.now();
      const record = (await findDirectoryByName(this.ctx.store, name)) ?? null;
      const dir: DirectoryInfo | null = record && { ...record, profiles: await loadDirectoryProfiles(this.ctx.store, record.id) };
      // an invalidate() during the read: the result may predate the edit, not kept
      if (generation === this.generation) this.remember(name, at, dir);
      return dir;
    });
  }

  private remember(name: string, at: number, dir: DirectoryInfo | null): void {
    const [map, max] = dir ? [this.cache, DirectoryCache.maxEntries] : [this.misses, DirectoryCache.maxMisses];
    if (dir) this.misses.delete(name);
    else this.cache.delete(name);
    map.delete(name);
    while (map.size >= max) map.delete(map.keys().next().value!);
    if (dir) this.cache.set(name, { at, dir });
    else this.misses.set(name, at);
  }

  /** entries held (tests: the bounds) */
  get size(): { directories: number; misses: number } {
    return { directories: this.cache.size, misses: this.misses.size };
  }

  invalidate(name?: string): void {
    this.generation++;
    this.loading.clear();
    if (name) {
      this.cache.delete(name);
      this.misses.delete(name);
    } else {
      this.cache.clear();
      this.misses.clear();
    }
  }
}

export interface CreateDirectoryRequest extends Omit<DirectoryPolicyInput, "challengeTypes"> {
  /** rate-limit entries, checked (src/ra/acme/rate-limits.ts checkDirectoryRateLimitsInput); absent: the server's */
  rateLimits?: DirectoryRateLimitRow[];
  name: string;
  /** CA id or name (within the organization when given) */
  ca: string;
  /** organization name or id; default: the CA's */
  organization?: string;
  challengeTypes?: readonly AcmeChallengeType[];
  /** draft-ietf-acme-profiles-00: the default profile, `classic` (from the kind and validity) or a preset added with it */
  defaultProfile?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ref = (v: string): IdOrName => (UUID_RE.test(v) ? { id: v.toLowerCase() } : { name: v });

/** Status as callers see it: active past notAfter reads as "expired". */
function caStatus(ca: Pick<IssuingCaCandidate, "status" | "notAfter">, now: Date): CaStatus {
  return ca.status === "active" && ca.notAfter <= now ? "expired" : ca.status;
}

/**
 * Creates a directory served at /acme/{name}/directory, bound to a CA of
 * its organization that is active and issues leaves. The caller authorized
 * the actor; every input is checked by the directory policy rules.
 */
export async function createDirectory(ctx: RaContext, actor: Actor, req: CreateDirectoryRequest): Promise<AcmeDirectory> {
  const name = checkDirectoryName(req.name);
  const policy = checkDirectoryPolicy(req);
  return inTransaction(ctx, async (tx) => {
    let orgId: string | null = null;
    if (req.organization) {
      orgId = (await findOrganizationId(tx, ref(req.organization))) ?? null;
      if (!orgId) throw SigilError.notFound("organization not found");
    }
    const cas = await findIssuingCaCandidates(tx, ref(req.ca), orgId);
    if (cas.length === 0) throw SigilError.notFound(orgId ? "certificate authority not found in this organization" : "certificate authority not found");
    if (cas.length > 1) throw SigilError.invalidArgument(`CA name "${req.ca}" is ambiguous; give the organization or the CA id`, "ca_id");
    const ca = cas[0]!;
    const status = caStatus(ca, ctx.clock.now());
    if (status !== "active") throw SigilError.failedPrecondition(`the CA is ${status}`);
    if (!ca.allowLeafCerts) throw SigilError.failedPrecondition("the CA does not issue leaf certificates (allow_leaf_certs is false)");
    const organizationId = orgId ?? ca.organizationId;
    if (await directoryNameTaken(tx, name)) throw SigilError.alreadyExists(`ACME directory "${name}" exists`, "name");
    const d = insertDirectory(tx, { id: uuidv7(), name, organizationId, caId: ca.id, ...policy });
    if (req.rateLimits?.length) setDirectoryRateLimits(d, req.rateLimits);
    const profiles = await createDirectoryProfiles(tx, d, ctx.clock.now(), { presets: req.defaultProfile ? [req.defaultProfile] : [], defaultName: req.defaultProfile });
    tx.audit(actor, {
      action: "acme_directory_create",
      organizationId,
      resourceType: "acme_directory",
      resourceId: d.id,
      detail: { name, caId: ca.id, eabRequired: policy.eabRequired, certificateKind: policy.certificateKind, profiles, defaultProfile: d.defaultProfile },
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
 * stored encrypted under the master key, bound to its id.
 */
export async function createEabKey(
  ctx: RaContext,
  actor: Actor,
  req: { directory: string; description?: string },
): Promise<{ kid: string; hmacKey: string; directoryId: string }> {
  return inTransaction(ctx, async (tx) => {
    const dir = await findDirectoryByName(tx, req.directory);
    if (!dir) throw SigilError.notFound(`ACME directory "${req.directory}" not found`);
    const key = randomBytes(32);
    const id = uuidv7();
    insertEabKey(tx, {
      id,
      directoryId: dir.id,
      organizationId: dir.organizationId,
      encryptedHmacKey: await ctx.secrets.seal(tx, dir.organizationId, key, eabKeyAad(id)),
      description: req.description ?? "",
      createdById: actor.kind === "user" ? actor.id : null,
    });
    tx.audit(actor, {
      action: "eab_create",
      organizationId: dir.organizationId,
      resourceType: "acme_eab_key",
      resourceId: id,
      detail: { directory: dir.name },
    });
    return { kid: id, hmacKey: key.toString("base64url"), directoryId: dir.id };
  });
}
