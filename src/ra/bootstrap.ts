/**
 * First start: the master-key check and the objects a fresh installation
 * needs (superuser, default organization, CAs, ACME directory), each created
 * only when missing.
 */
import { randomBytes } from "node:crypto";
import { SigilError } from "../core/errors.js";
import type { CertificateAuthority } from "../db/entities/index.js";
import { directoryNameTaken } from "../db/store/acme-directories.js";
import { listCas } from "../db/store/certificate-authorities.js";
import { findOrganizationByName, insertOrganization } from "../db/store/organizations.js";
import { getSetting, putSettingIfAbsent } from "../db/store/system-settings.js";
import { insertUser, superuserExists } from "../db/store/users.js";
import { createDirectory } from "./acme/directories.js";
import { systemActor } from "./actor.js";
import { createIntermediateCa, createRootCa } from "./certificate-authorities.js";
import { inTransaction, type RaContext } from "./context.js";
import { hashPassword } from "./users.js";

const MASTER_KEY_CHECK = "master_key_check";
const MASTER_KEY_CHECK_PLAINTEXT = Buffer.from("sigil master key check v1");

export const DEFAULT_ORGANIZATION = "default";
export const DEFAULT_ADMIN = "admin";
export const DEFAULT_ROOT_CA = "default-root";
export const DEFAULT_INTERMEDIATE_CA = "default-intermediate";
export const DEFAULT_ACME_DIRECTORY = "default";

export interface BootstrapResult {
  /** the generated admin password, present only on the run that created the admin without SIGIL_BOOTSTRAP_ADMIN_PASSWORD */
  generatedAdminPassword?: string;
  created: string[];
  rootCaId: string;
  intermediateCaId: string;
}

/**
 * Refuses to run with a master key that did not encrypt this database's keys:
 * a known plaintext encrypted on first run must decrypt. Nothing is written
 * when it does not.
 */
export async function verifyMasterKey(ctx: RaContext): Promise<void> {
  const stored = await getSetting(ctx.store, MASTER_KEY_CHECK);
  if (stored !== undefined) {
    checkMasterKeyValue(ctx, stored);
    return;
  }
  const oldest = await listCas(ctx.store, { organizationId: null, limit: 1, offset: 0 });
  const ca = oldest.items[0];
  if (ca) {
    // Older data without a check value: prove the key on a real CA key before adopting it.
    try {
      await ctx.issuers.get(ctx.store, ca);
    } catch {
      throw SigilError.config("the master key cannot decrypt the existing CA keys; refusing to start", "SIGIL_MASTER_KEY");
    }
  }
  // several instances may start at once: whichever check value was written first must decrypt
  checkMasterKeyValue(ctx, await putSettingIfAbsent(ctx.store, MASTER_KEY_CHECK, ctx.keyRing.encrypt(MASTER_KEY_CHECK_PLAINTEXT, MASTER_KEY_CHECK), ctx.clock.now()));
}

function checkMasterKeyValue(ctx: RaContext, stored: string): void {
  let plain: Buffer;
  try {
    plain = ctx.keyRing.decrypt(stored, MASTER_KEY_CHECK);
  } catch {
    throw SigilError.config(
      "the master key does not match the one this database was created with (check SIGIL_MASTER_KEY / SIGIL_MASTER_KEY_FILE / data dir master.key); refusing to start",
      "SIGIL_MASTER_KEY",
    );
  }
  if (!plain.equals(MASTER_KEY_CHECK_PLAINTEXT)) throw SigilError.config("master key check value is corrupt", "SIGIL_MASTER_KEY");
}

/** The organization's live CA of this name, if any (names are unique among an organization's live CAs). */
async function findCaNamed(ctx: RaContext, organizationId: string, name: string): Promise<CertificateAuthority | undefined> {
  const limit = 500;
  for (let offset = 0; ; offset += limit) {
    const page = await listCas(ctx.store, { organizationId, limit, offset });
    const found = page.items.find((ca) => ca.name === name);
    if (found) return found;
    if (offset + limit >= page.total) return undefined;
  }
}

/**
 * First run: the superuser `admin`, the organization `default`, an ECDSA
 * P-256 root and an intermediate under it, and the ACME directory `default`
 * on the intermediate (no EAB). Each step looks for its object first, so a
 * second start (or a start after a crash half-way) creates only what is
 * missing.
 */
export async function bootstrap(ctx: RaContext, opts: { adminPassword?: string }): Promise<BootstrapResult> {
  await verifyMasterKey(ctx);
  const actor = systemActor("bootstrap");
  const created: string[] = [];
  let generatedAdminPassword: string | undefined;

  const org = await inTransaction(ctx, async (tx) => {
    const existing = await findOrganizationByName(tx, DEFAULT_ORGANIZATION);
    if (existing) return existing;
    const o = insertOrganization(tx, { name: DEFAULT_ORGANIZATION, description: "created on first run" });
    tx.audit(actor, { action: "org_create", organizationId: o.id, resourceType: "organization", resourceId: o.id, detail: { name: o.name } });
    created.push(`organization ${DEFAULT_ORGANIZATION}`);
    return o;
  });

  if (!(await superuserExists(ctx.store))) {
    const password = opts.adminPassword ?? randomBytes(18).toString("base64url");
    // hashed before the transaction opens: bcrypt takes a while and needs no row
    const passwordHash = await hashPassword(ctx, password);
    await inTransaction(ctx, async (tx) => {
      // another instance may have created it meanwhile
      if (await superuserExists(tx)) return;
      if (!opts.adminPassword) generatedAdminPassword = password;
      const u = insertUser(tx, { username: DEFAULT_ADMIN, passwordHash, role: "superuser", organizationId: org.id });
      tx.audit(actor, {
        action: "user_create",
        organizationId: org.id,
        resourceType: "user",
        resourceId: u.id,
        detail: { username: DEFAULT_ADMIN, role: "superuser" },
      });
      created.push(`superuser ${DEFAULT_ADMIN}`);
    });
  }

  let root = await findCaNamed(ctx, org.id, DEFAULT_ROOT_CA);
  if (!root) {
    root = await createRootCa(ctx, actor, {
      organizationId: org.id,
      name: DEFAULT_ROOT_CA,
      description: "created on first run",
      subject: { commonName: "Sigil Default Root CA", organization: "Sigil" },
      keyAlgorithm: "p256",
      validityDays: 3650,
      pathLength: 1,
      allowLeafCerts: false,
    });
    created.push(`root CA ${DEFAULT_ROOT_CA}`);
  }
  let intermediate = await findCaNamed(ctx, org.id, DEFAULT_INTERMEDIATE_CA);
  if (!intermediate) {
    intermediate = await createIntermediateCa(ctx, actor, root.id, {
      organizationId: org.id,
      name: DEFAULT_INTERMEDIATE_CA,
      description: "created on first run",
      subject: { commonName: "Sigil Default Intermediate CA", organization: "Sigil" },
      keyAlgorithm: "p256",
      validityDays: 1825,
      pathLength: 0,
      allowLeafCerts: true,
    });
    created.push(`intermediate CA ${DEFAULT_INTERMEDIATE_CA}`);
  }
  const intermediateId = intermediate.id;
  if (!(await directoryNameTaken(ctx.store, DEFAULT_ACME_DIRECTORY))) {
    // the directory rules' own defaults: every challenge type, server certificates, no EAB
    await createDirectory(ctx, actor, { name: DEFAULT_ACME_DIRECTORY, ca: intermediateId, organization: org.id, eabRequired: false });
    created.push(`ACME directory ${DEFAULT_ACME_DIRECTORY}`);
  }
  return { generatedAdminPassword, created, rootCaId: root.id, intermediateCaId: intermediateId };
}
