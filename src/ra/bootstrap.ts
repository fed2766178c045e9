/**
 * First start: the master-key check and the objects a fresh installation
 * needs (superuser, default organization, root and intermediate CAs, ACME
 * directory). Whatever is missing is created in ONE transaction, together
 * with the file that holds a generated admin password, so a first start
 * that fails at any point leaves either all of it or none of it: the next
 * start never finds CAs without an admin, nor an admin whose password was
 * only ever printed to a terminal that is gone.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { newSerial, serialToHex } from "../ca/serial.js";
import { createRootCa as signRootCa, issueSubordinateCa, loadIssuer, type DistinguishedName, type Issuer } from "../ca/signer.js";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { CertificateAuthority } from "../db/entities/index.js";
import { directoryNameTaken, insertDirectory } from "../db/store/acme-directories.js";
import { createCa, listCas } from "../db/store/certificate-authorities.js";
import { findOrganizationByName, insertOrganization } from "../db/store/organizations.js";
import { getSetting, putSettingIfAbsent } from "../db/store/system-settings.js";
import { findUserForLogin, insertUser, superuserExists } from "../db/store/users.js";
import { checkDirectoryPolicy } from "../policy/directory-policy.js";
import { DEFAULT_DIRECTORY_PRESETS } from "../policy/profiles.js";
import { createDirectoryProfiles } from "./acme/profiles.js";
import { systemActor } from "./actor.js";
import { DAY_MS, floorToSecond, formatDn, recordCaCertificate } from "./certificate-authorities/common.js";
import { inTransaction, type RaContext, type Tx } from "./context.js";
import { caKeyAad, caPublicUrls } from "./issuers.js";
import { hashPassword, updateUser } from "./users.js";
import { finishExternalRootBootstrap, preparePendingCa, writePendingCa, type ExternalRootBootstrap } from "./certificate-authorities/external-parent.js";

const MASTER_KEY_CHECK = "master_key_check";
const MASTER_KEY_CHECK_PLAINTEXT = Buffer.from("sigil master key check v1");

export const DEFAULT_ORGANIZATION = "default";
export const DEFAULT_ADMIN = "admin";
export const DEFAULT_ROOT_CA = "default-root";
export const DEFAULT_INTERMEDIATE_CA = "default-intermediate";
export const DEFAULT_ACME_DIRECTORY = "default";
/** the default directory's max_validity_days: the classic profile's 200 days (CA/B Forum BR §6.3.2) */
export const DEFAULT_DIRECTORY_MAX_VALIDITY_DAYS = 200;

/** The file in the data directory that receives a generated first-run admin password (mode 0600). */
export const INITIAL_ADMIN_PASSWORD_FILE = "initial-admin-password";

export interface BootstrapOptions {
  /** SIGIL_BOOTSTRAP_ADMIN_PASSWORD; unset: a random password is generated */
  adminPassword?: string;
  /**
   * where a generated password is written (0600), inside the bootstrap
   * transaction: a failed write rolls the bootstrap back. `sigil serve`
   * passes `<dataDir>/initial-admin-password`; unset (library use, tests),
   * the password is only returned.
   */
  passwordFile?: string;
  /**
   * SIGIL_BOOTSTRAP_MODE=external-root (docs/key-custody.md, "Offline root"):
   * no root is made; the default intermediate is created pending_activation
   * with a CSR for the offline root, and activated from the configured files.
   */
  externalRoot?: ExternalRootBootstrap;
}

export interface BootstrapResult {
  /**
   * the generated admin password, present only on the run that created the
   * admin without SIGIL_BOOTSTRAP_ADMIN_PASSWORD; for callers that embed
   * Sigil. `sigil serve` never prints it: it names adminPasswordFile.
   */
  generatedAdminPassword?: string;
  /** the 0600 file the generated password was written to on this run */
  adminPasswordFile?: string;
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

const ROOT_SUBJECT: DistinguishedName = { commonName: "Sigil Default Root CA", organization: "Sigil" };
const INTERMEDIATE_SUBJECT: DistinguishedName = { commonName: "Sigil Default Intermediate CA", organization: "Sigil" };
const ROOT_VALIDITY_DAYS = 3650;
const INTERMEDIATE_VALIDITY_DAYS = 1825;

/** A CA signed before the transaction opens (key generation and signing need no row), written inside it. */
interface PreparedCa {
  id: string;
  name: string;
  parentId: string | null;
  pathLength: number;
  allowLeafCerts: boolean;
  /** sealed with the organization's data key inside the transaction (writeCa), where the organization exists */
  privateKeyPkcs8: Buffer;
  certificatePem: string;
  serial: string;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
}

/** An ECDSA P-256 self-signed root (RFC 5280 §4.2.1.9: CA, pathLenConstraint 1) and its issuer, for signing the intermediate. */
async function prepareRoot(ctx: RaContext): Promise<{ ca: PreparedCa; issuer: Issuer }> {
  // the first-run CAs keep their keys in the database key store (docs/key-custody.md)
  const key = await ctx.issuers.keyStores.database.generate("p256");
  const now = ctx.clock.now();
  // whole seconds, so the row's validity is the certificate's (RFC 5280 §4.1.2.5)
  const notBefore = floorToSecond(new Date(now.getTime() - 60_000));
  const notAfter = floorToSecond(new Date(now.getTime() + ROOT_VALIDITY_DAYS * DAY_MS));
  const serial = newSerial(ctx.random);
  const id = uuidv7();
  const cert = await signRootCa({ subject: ROOT_SUBJECT, signingKey: key.signingKey, serial, notBefore, notAfter, pathLength: 1 });
  const issuer = loadIssuer({ certificateDer: cert.der, signingKey: key.signingKey, urls: caPublicUrls({ id, crlBaseUrl: null }, ctx.publicUrl) });
  const ca: PreparedCa = {
    id,
    name: DEFAULT_ROOT_CA,
    parentId: null,
    pathLength: 1,
    allowLeafCerts: false,
    privateKeyPkcs8: key.pkcs8!,
    certificatePem: cert.pem,
    serial: serialToHex(serial),
    subject: ROOT_SUBJECT,
    notBefore,
    notAfter,
  };
  return { ca, issuer };
}

/** The intermediate under `issuer` (pathLenConstraint 0, issues leaves), within the parent's validity (RFC 5280 §6.1.3). */
async function prepareIntermediate(ctx: RaContext, parentId: string, issuer: Issuer): Promise<PreparedCa> {
  // the first-run CAs keep their keys in the database key store (docs/key-custody.md)
  const key = await ctx.issuers.keyStores.database.generate("p256");
  const now = ctx.clock.now();
  const wantedStart = floorToSecond(new Date(now.getTime() - 60_000));
  const notBefore = wantedStart < issuer.notBefore ? issuer.notBefore : wantedStart;
  const wantedEnd = floorToSecond(new Date(now.getTime() + INTERMEDIATE_VALIDITY_DAYS * DAY_MS));
  const notAfter = wantedEnd > issuer.notAfter ? issuer.notAfter : wantedEnd;
  if (notAfter <= notBefore) throw SigilError.failedPrecondition(`the CA ${DEFAULT_ROOT_CA} has expired; no intermediate can be created under it`);
  const serial = newSerial(ctx.random);
  const id = uuidv7();
  const cert = await issueSubordinateCa(issuer, { subject: INTERMEDIATE_SUBJECT, publicKey: key.signingKey.publicKey, serial, notBefore, notAfter, pathLength: 0 });
  return {
    id,
    name: DEFAULT_INTERMEDIATE_CA,
    parentId,
    pathLength: 0,
    allowLeafCerts: true,
    privateKeyPkcs8: key.pkcs8!,
    certificatePem: cert.pem,
    serial: serialToHex(serial),
    subject: INTERMEDIATE_SUBJECT,
    notBefore,
    notAfter,
  };
}

/** Writes a prepared CA row and its audit entry; an intermediate's certificate is also a row of its parent (its CRL and OCSP answer for it). */
async function writeCa(tx: Tx, ctx: RaContext, organizationId: string, p: PreparedCa): Promise<void> {
  const actor = systemActor("bootstrap");
  const now = ctx.clock.now();
  createCa(tx, {
    id: p.id,
    name: p.name,
    description: "created on first run",
    organizationId,
    parentId: p.parentId,
    pathLength: p.pathLength,
    allowLeafCerts: p.allowLeafCerts,
    crlBaseUrl: null,
    keyAlgorithm: "p256",
    encryptedPrivateKey: await ctx.secrets.seal(tx, organizationId, p.privateKeyPkcs8, caKeyAad(p.id)),
    certificatePem: p.certificatePem,
    serial: p.serial,
    subject: formatDn(p.subject),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    creatorId: null,
    createdAt: now,
  });
  if (p.parentId) {
    // a raw statement: the ORM flushes the pending rows (the parent's too) before it runs
    await recordCaCertificate(tx, {
      serial: p.serial,
      issuerId: p.parentId,
      organizationId: organizationId,
      commonName: p.subject.commonName ?? null,
      notBefore: p.notBefore,
      notAfter: p.notAfter,
      creatorId: null,
      certificatePem: p.certificatePem,
      createdAt: now,
    });
  }
  tx.audit(actor, {
    action: "ca_create",
    organizationId,
    resourceType: "certificate_authority",
    resourceId: p.id,
    detail: p.parentId
      ? { name: p.name, kind: "intermediate", parentId: p.parentId, keyAlgorithm: "p256", serial: p.serial }
      : { name: p.name, kind: "root", keyAlgorithm: "p256", serial: p.serial },
  });
}

/**
 * Writes `password` to `file` with mode 0600 (a fresh file: an older one is
 * replaced, never reused with its old mode), its directory 0700 when created.
 */
export function writeSecretFile(file: string, password: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  rmSync(file, { force: true });
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
}

/**
 * First run: the superuser `admin`, the organization `default`, an ECDSA
 * P-256 root and an intermediate under it, and the ACME directory `default`
 * on the intermediate (every challenge type, server certificates, no EAB).
 *
 * Keys are generated, certificates signed and the password hashed before
 * the transaction opens; then whatever is missing is written in one
 * transaction, whose last step writes a generated password to
 * `opts.passwordFile`. A failure anywhere (the file cannot be written, the
 * database goes away) rolls everything back, and the next start begins
 * again from nothing. Concurrent first starts on PostgreSQL are serialized
 * by the start-up lock (src/db/store/startup-lock.ts) that the caller holds.
 * A database bootstrapped by an older version that stopped half-way gets
 * only the missing objects.
 */
export async function bootstrap(ctx: RaContext, opts: BootstrapOptions): Promise<BootstrapResult> {
  await verifyMasterKey(ctx);
  const actor = systemActor("bootstrap");

  const existingOrg = await findOrganizationByName(ctx.store, DEFAULT_ORGANIZATION);
  const needAdmin = !(await superuserExists(ctx.store));
  const existingRoot = existingOrg ? await findCaNamed(ctx, existingOrg.id, DEFAULT_ROOT_CA) : undefined;
  const existingIntermediate = existingOrg ? await findCaNamed(ctx, existingOrg.id, DEFAULT_INTERMEDIATE_CA) : undefined;
  const needDirectory = !(await directoryNameTaken(ctx.store, DEFAULT_ACME_DIRECTORY));
  const external = opts.externalRoot;
  if (existingOrg && !needAdmin && (external || existingRoot) && existingIntermediate && !needDirectory) {
    if (external) return { created: [], ...(await finishExternalRootBootstrap(ctx, external, existingIntermediate.id)) };
    return { created: [], rootCaId: existingRoot!.id, intermediateCaId: existingIntermediate.id };
  }

  // the slow parts outside the transaction: bcrypt, key generation, signing
  const password = needAdmin ? (opts.adminPassword ?? randomBytes(18).toString("base64url")) : undefined;
  const passwordHash = password === undefined ? undefined : await hashPassword(ctx, password);
  let root: PreparedCa | undefined;
  let rootIssuer: Issuer | undefined;
  // external-root: the intermediate's parent is the offline root, made by `sigil ca init-offline-root`
  const pending = external && !existingIntermediate ? await preparePendingCa(DEFAULT_INTERMEDIATE_CA, INTERMEDIATE_SUBJECT, "p256") : undefined;
  if (external) {
    // no root here
  } else if (existingRoot) {
    rootIssuer = await ctx.issuers.get(ctx.store, existingRoot);
  } else {
    const r = await prepareRoot(ctx);
    root = r.ca;
    rootIssuer = r.issuer;
  }
  const rootId = existingRoot?.id ?? root?.id ?? "";
  const intermediate = existingIntermediate || external ? undefined : await prepareIntermediate(ctx, rootId, rootIssuer!);
  const intermediateId = existingIntermediate?.id ?? intermediate?.id ?? pending!.id;
  // CA/B Forum BR §6.3.2: 200 days at most (the classic profile's); the presets narrow it
  // dual: the outer bound of the shipped presets (tlsserver and tlsclient, review 2 M6); classic stays server-only (docs/profiles.md)
  const directoryPolicy = checkDirectoryPolicy({ eabRequired: false, maxValidityDays: DEFAULT_DIRECTORY_MAX_VALIDITY_DAYS, certificateKind: "dual" });

  const created: string[] = [];
  const generated = needAdmin && opts.adminPassword === undefined;
  const passwordFile = generated ? opts.passwordFile : undefined;
  await inTransaction(ctx, async (tx) => {
    const steps: string[] = [];
    let org = await findOrganizationByName(tx, DEFAULT_ORGANIZATION);
    if (!org) {
      org = insertOrganization(tx, { name: DEFAULT_ORGANIZATION, description: "created on first run" });
      tx.audit(actor, { action: "org_create", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { name: org.name } });
      steps.push(`organization ${DEFAULT_ORGANIZATION}`);
    }
    const orgId = org.id;
    if (passwordHash !== undefined) {
      const u = insertUser(tx, { username: DEFAULT_ADMIN, passwordHash, role: "superuser", organizationId: orgId });
      tx.audit(actor, {
        action: "user_create",
        organizationId: orgId,
        resourceType: "user",
        resourceId: u.id,
        detail: { username: DEFAULT_ADMIN, role: "superuser" },
      });
      steps.push(`superuser ${DEFAULT_ADMIN}`);
    }
    if (root) {
      await writeCa(tx, ctx, orgId, root);
      steps.push(`root CA ${DEFAULT_ROOT_CA}`);
    }
    if (intermediate) {
      await writeCa(tx, ctx, orgId, intermediate);
      steps.push(`intermediate CA ${DEFAULT_INTERMEDIATE_CA}`);
    }
    if (pending) {
      await writePendingCa(tx, ctx, actor, orgId, pending, "created on first run, for the offline root to sign");
      steps.push(`intermediate CA ${DEFAULT_INTERMEDIATE_CA} (pending activation)`);
    }
    if (needDirectory) {
      const d = insertDirectory(tx, { id: uuidv7(), name: DEFAULT_ACME_DIRECTORY, organizationId: orgId, caId: intermediateId, ...directoryPolicy });
      // draft-ietf-acme-profiles-00: the shipped presets, classic the default (today's behaviour)
      const profiles = await createDirectoryProfiles(tx, d, ctx.clock.now(), { presets: DEFAULT_DIRECTORY_PRESETS, classicFromDirectory: false });
      tx.audit(actor, {
        action: "acme_directory_create",
        organizationId: orgId,
        resourceType: "acme_directory",
        resourceId: d.id,
        detail: { name: DEFAULT_ACME_DIRECTORY, caId: intermediateId, eabRequired: directoryPolicy.eabRequired, certificateKind: directoryPolicy.certificateKind, profiles, defaultProfile: d.defaultProfile },
      });
      steps.push(`ACME directory ${DEFAULT_ACME_DIRECTORY}`);
    }
    // last: a file that cannot be written rolls the rows back; a commit that fails
    // afterwards leaves a file naming a password of no user, replaced on the next start
    if (passwordFile) {
      try {
        writeSecretFile(passwordFile, password!);
      } catch (e) {
        throw SigilError.config(`cannot write the initial admin password to ${passwordFile} (${(e as Error).message})`, "SIGIL_DATA_DIR");
      }
    }
    created.push(...steps);
  });
  return {
    generatedAdminPassword: generated ? password : undefined,
    adminPasswordFile: passwordFile,
    created,
    // external-root: activated from the configured files now, or start-up stops naming the CSR file
    ...(external ? await finishExternalRootBootstrap(ctx, external, intermediateId) : { rootCaId: rootId, intermediateCaId: intermediateId }),
  };
}

/** True while the first-run password file is still in the data directory (the operator should store it and delete it). */
export function initialPasswordFileExists(dataDir: string): boolean {
  return existsSync(path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE));
}

/** The break-glass password file `sigil admin reset-password` writes into the data directory (mode 0600). */
export function resetPasswordFile(dataDir: string, username: string): string {
  return path.join(dataDir, `reset-password-${username.replace(/[^A-Za-z0-9._-]/g, "_")}`);
}

/**
 * Break-glass: sets a user's password without the admin API, for an
 * operator who holds the database and the master key (the key is proven
 * first: whoever cannot decrypt the CA keys cannot reset anything). The
 * change is an ordinary user update by the system actor "reset-password":
 * audited in its transaction, and every session of the user ends.
 */
export async function resetUserPassword(ctx: RaContext, username: string, password: string): Promise<{ userId: string; isActive: boolean; role: string }> {
  await verifyMasterKey(ctx);
  const user = await findUserForLogin(ctx.store, username);
  if (!user) throw SigilError.notFound(`no user named "${username}"`);
  const updated = await updateUser(ctx, systemActor("reset-password"), { id: user.id, password, flags: {} });
  return { userId: updated.id, isActive: updated.isActive, role: updated.role };
}
