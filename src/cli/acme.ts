/**
 * `sigil acme ...`: ACME directories and EAB keys until the admin plane has them.
 *
 *   sigil acme directory create --name N --ca CA_ID_OR_NAME [--org ORG] [--eab-required]
 *        [--kind server|client|dual] [--allow-dns suffix,..] [--allow-ip cidr,..]
 *        [--challenges http-01,dns-01,tls-alpn-01] [--max-validity-days N]
 *   sigil acme eab create --directory NAME [--description TEXT]
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../config.js";
import { SigilError } from "../core/errors.js";
import type { AcmeChallengeType } from "../core/types.js";
import { loadMasterKey } from "../ca/master-key-source.js";
import { migrate, openDatabase } from "../db/orm.js";
import { systemActor } from "../ra/actor.js";
import { createDirectory, createEabKey } from "../ra/acme/directories.js";
import { createRaContext, type RaContext } from "../ra/context.js";
import { systemClock } from "../core/clock.js";
import type { AcmeCertificateKind } from "../db/entities/acme.js";
import { ACME_ADMIN_USAGE, runAcmeAdmin } from "./acme-admin.js";

const USAGE = `usage:
  sigil acme directory create --name N --ca CA_ID_OR_NAME [--org ORG] [--eab-required]
        [--kind server|client|dual] [--allow-dns suffix,..] [--allow-ip cidr,..]
        [--challenges http-01,dns-01,tls-alpn-01] [--max-validity-days N]
  sigil acme eab create --directory NAME [--description TEXT]
`;

const list = (s: string | undefined): string[] | undefined => (s === undefined ? undefined : s.split(",").map((x) => x.trim()).filter(Boolean));

async function withRa<T>(fn: (ra: RaContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const masterKey = loadMasterKey(config);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    if (config.migrateOnStart) await migrate(db.orm);
    return await fn(createRaContext({ orm: db.orm, keyRing: masterKey.ring, clock: systemClock, publicUrl: config.publicUrl, bcryptCost: config.bcryptCost }));
  } finally {
    await db.close();
  }
}

export async function runAcme(argv: string[]): Promise<number> {
  const [noun, verb, ...rest] = argv;
  if (noun === "directory" && verb === "create") {
    const { values } = parseArgs({
      args: rest,
      options: {
        name: { type: "string" },
        ca: { type: "string" },
        org: { type: "string" },
        "eab-required": { type: "boolean" },
        kind: { type: "string" },
        "allow-dns": { type: "string" },
        "allow-ip": { type: "string" },
        challenges: { type: "string" },
        "max-validity-days": { type: "string" },
      },
      strict: true,
    });
    if (!values.name || !values.ca) throw SigilError.invalidArgument(`--name and --ca are required\n${USAGE}`, "name");
    const maxValidityDays = values["max-validity-days"] === undefined ? undefined : Number(values["max-validity-days"]);
    const d = await withRa((ra) =>
      createDirectory(ra, systemActor("cli"), {
        name: values.name!,
        ca: values.ca!,
        organization: values.org,
        eabRequired: values["eab-required"] ?? false,
        certificateKind: values.kind as AcmeCertificateKind | undefined,
        allowedDnsSuffixes: list(values["allow-dns"]),
        allowedIpRanges: list(values["allow-ip"]),
        challengeTypes: list(values.challenges) as AcmeChallengeType[] | undefined,
        maxValidityDays,
      }),
    );
    const base = loadConfig().publicUrl;
    process.stdout.write(`ACME directory "${d.name}" created (${d.id})\n  ${base}/acme/${d.name}/directory\n`);
    return 0;
  }
  if (noun === "eab" && verb === "create") {
    const { values } = parseArgs({ args: rest, options: { directory: { type: "string" }, description: { type: "string" } }, strict: true });
    if (!values.directory) throw SigilError.invalidArgument(`--directory is required\n${USAGE}`, "directory");
    const k = await withRa((ra) => createEabKey(ra, systemActor("cli"), { directory: values.directory!, description: values.description }));
    process.stdout.write(`EAB key for directory "${values.directory}" (shown once, usable once):\n  kid:      ${k.kid}\n  hmac key: ${k.hmacKey}\n`);
    return 0;
  }
  // every other subcommand goes through the admin API (src/cli/acme-admin.ts)
  const viaAdmin = await runAcmeAdmin(argv);
  if (viaAdmin !== undefined) return viaAdmin;
  process.stderr.write(`${USAGE}\n${ACME_ADMIN_USAGE}`);
  return 2;
}
