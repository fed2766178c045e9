import bcrypt from "bcrypt";
import { randomBytes } from "node:crypto";
import { SigilError } from "../core/errors.js";
import { AcmeDirectory, CertificateAuthority, Organization, SystemSetting, User } from "../db/entities/index.js";
import { systemActor } from "./actor.js";
import { createIntermediateCa, createRootCa } from "./certificate-authorities.js";
import { inTransaction, type RaContext } from "./context.js";

export const BCRYPT_COST = 12;
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
  const em = ctx.orm.em.fork();
  const row = await em.findOne(SystemSetting, { key: MASTER_KEY_CHECK });
  if (row) {
    let plain: Buffer;
    try {
      plain = ctx.keyRing.decrypt(row.value, MASTER_KEY_CHECK);
    } catch {
      throw SigilError.config(
        "the master key does not match the one this database was created with (check SIGIL_MASTER_KEY / SIGIL_MASTER_KEY_FILE / data dir master.key); refusing to start",
        "SIGIL_MASTER_KEY",
      );
    }
    if (!plain.equals(MASTER_KEY_CHECK_PLAINTEXT)) throw SigilError.config("master key check value is corrupt", "SIGIL_MASTER_KEY");
    return;
  }
  const caCount = await em.count(CertificateAuthority, {});
  if (caCount > 0) {
    // Older data without a check value: prove the key on a real CA key before adopting it.
    const ca = await em.findOneOrFail(CertificateAuthority, {}, { orderBy: { createdAt: "asc" } });
    try {
      await ctx.issuers.get(em, ca);
    } catch {
      throw SigilError.config("the master key cannot decrypt the existing CA keys; refusing to start", "SIGIL_MASTER_KEY");
    }
  }
  em.create(SystemSetting, { key: MASTER_KEY_CHECK, value: ctx.keyRing.encrypt(MASTER_KEY_CHECK_PLAINTEXT, MASTER_KEY_CHECK) } as SystemSetting);
  await em.flush();
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
    const existing = await tx.em.findOne(Organization, { name: DEFAULT_ORGANIZATION });
    if (existing) return existing;
    const o = tx.em.create(Organization, { name: DEFAULT_ORGANIZATION, description: "created on first run" } as Organization);
    tx.audit(actor, { action: "org_create", organizationId: o.id, resourceType: "organization", resourceId: o.id, detail: { name: o.name } });
    created.push(`organization ${DEFAULT_ORGANIZATION}`);
    return o;
  });

  await inTransaction(ctx, async (tx) => {
    if (await tx.em.count(User, { role: "superuser" })) return;
    const password = opts.adminPassword ?? randomBytes(18).toString("base64url");
    if (!opts.adminPassword) generatedAdminPassword = password;
    const u = tx.em.create(User, {
      username: DEFAULT_ADMIN,
      passwordHash: await bcrypt.hash(password, BCRYPT_COST),
      role: "superuser",
      organization: tx.em.getReference(Organization, org.id),
    } as User);
    tx.audit(actor, {
      action: "user_create",
      organizationId: org.id,
      resourceType: "user",
      resourceId: u.id,
      detail: { username: DEFAULT_ADMIN, role: "superuser" },
    });
    created.push(`superuser ${DEFAULT_ADMIN}`);
  });

  const em = ctx.orm.em.fork();
  let root = await em.findOne(CertificateAuthority, { organization: org.id, name: DEFAULT_ROOT_CA });
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
  let intermediate = await em.findOne(CertificateAuthority, { organization: org.id, name: DEFAULT_INTERMEDIATE_CA });
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
  await inTransaction(ctx, async (tx) => {
    if (await tx.em.count(AcmeDirectory, { name: DEFAULT_ACME_DIRECTORY })) return;
    const d = tx.em.create(AcmeDirectory, {
      name: DEFAULT_ACME_DIRECTORY,
      organization: tx.em.getReference(Organization, org.id),
      ca: tx.em.getReference(CertificateAuthority, intermediateId),
      eabRequired: false,
    } as AcmeDirectory);
    tx.audit(actor, {
      action: "acme_directory_create",
      organizationId: org.id,
      resourceType: "acme_directory",
      resourceId: d.id,
      detail: { name: DEFAULT_ACME_DIRECTORY, caId: intermediateId },
    });
    created.push(`ACME directory ${DEFAULT_ACME_DIRECTORY}`);
  });
  return { generatedAdminPassword, created, rootCaId: root.id, intermediateCaId: intermediateId };
}
