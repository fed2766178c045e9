/** `sigil ca ...`: CertificateAuthorityService. */
import {
  CertificateAuthorityService,
  CertificateAuthorityStatus,
  KeyStorage,
  CreateIntermediateCertificateAuthorityResponseSchema,
  CreateRootCertificateAuthorityResponseSchema,
  DeleteCertificateAuthorityResponseSchema,
  ExportCertificateAuthorityPrivateKeyResponseSchema,
  GetCertificateAuthorityChainResponseSchema,
  GetCertificateAuthorityResponseSchema,
  ImportCertificateAuthorityResponseSchema,
  ListCertificateAuthoritiesResponseSchema,
  ListCertificateAuthorityChildrenResponseSchema,
  RevokeCertificateAuthorityResponseSchema,
  UpdateCertificateAuthorityResponseSchema,
  type CertificateAuthority,
} from "../gen/sigil/admin/v1/certificate_authority_pb.js";
import {
  AdminCli,
  details,
  optionalInt,
  optionalString,
  parseCommand,
  required,
  runCli,
  table,
  UsageError,
  when,
} from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { arg, keyAlgorithmArg, keyAlgorithmName, readInput, reasonArg, reasonName, writeKey, exportKeyArgs } from "./pki-args.js";

const USAGE = `usage: sigil ca <command> [options]

commands:
  create-root --org ORG_ID --name NAME --cn CN [--o ORG] [--ou UNIT] [--c CC]
        [--key p256|p384|rsa2048|rsa3072|rsa4096] [--days N] [--path-length N]
        [--allow-leaf] [--crl-base-url URL] [--description TEXT] [--key-storage database|pkcs11]
  create-intermediate --parent CA_ID --name NAME --cn CN [same options; leaves allowed unless --no-leaf]
  import --org ORG_ID --name NAME --cert FILE --key FILE [--key-password P] [--parent CA_ID]
        [--allow-leaf] [--crl-base-url URL] [--description TEXT] [--key-storage database|pkcs11]
  get ID
  list [--org ORG_ID] [--roots] [--page-size N] [--page-token T]
  chain ID                       PEM chain, the CA first and its root last
  children ID [--page-size N] [--page-token T]
  update ID [--description TEXT] [--crl-base-url URL] [--allow-leaf | --no-leaf]
  delete ID
  revoke ID [--reason keyCompromise|cACompromise|superseded|cessationOfOperation|...]
  export-key ID [--format pem|pkcs12] [--password P] [--out FILE]   (audited)
offline root ceremony (details: sigil ca init-offline-root --help):
  init-offline-root              (offline) an encrypted root key file and its certificate
  sign-intermediate              (offline) sign a pending intermediate's CSR with the root key file
  sign-crl                       (offline) the root's CRL, signed with the root key file
  request-intermediate           a pending intermediate with an external parent: key + CSR
  activate ID                    activate it with the certificate signed offline
  import-crl ID                  import the root's CRL signed offline

common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

const STATUS: Record<number, string> = {
  [CertificateAuthorityStatus.ACTIVE]: "active",
  [CertificateAuthorityStatus.REVOKED]: "revoked",
  [CertificateAuthorityStatus.EXPIRED]: "expired",
  [CertificateAuthorityStatus.PENDING_ACTIVATION]: "pending_activation",
};

export function caRow(ca: CertificateAuthority): Record<string, string> {
  return {
    id: ca.id,
    name: ca.name,
    organization: ca.organizationId,
    parent: ca.parentId || "-",
    status: STATUS[ca.status] ?? "-",
    subject: ca.subject,
    key: keyAlgorithmName(ca.keyAlgorithm),
    "path length": ca.pathLength === undefined ? "none" : String(ca.pathLength),
    "key storage": ca.keyStorage === KeyStorage.PKCS11 ? `pkcs11 (CKA_ID ${ca.keyReference})` : "database",
    "leaf certs": ca.allowLeafCerts ? "yes" : "no",
    serial: ca.serial,
    "not after": when(ca.notAfter),
  };
}

const COLUMNS = ["id", "name", "parent", "status", "key", "path length", "leaf certs", "not after"];

/** --key-storage database|pkcs11 (docs/key-custody.md); absent: the server's default, the database */
function keyStorageArg(v: string | undefined): KeyStorage {
  switch (v) {
    case undefined:
      return KeyStorage.UNSPECIFIED;
    case "database":
      return KeyStorage.DATABASE;
    case "pkcs11":
      return KeyStorage.PKCS11;
    default:
      throw new UsageError(`--key-storage must be database or pkcs11, not "${v}"`);
  }
}

export async function runCa(argv: string[], io: CliIo): Promise<number> {
  // the offline-root ceremony (src/cli/ca-ceremony.ts); its offline commands need no server
  if (argv[0] && ["init-offline-root", "sign-intermediate", "sign-crl", "request-intermediate", "activate", "import-crl"].includes(argv[0])) {
    return (await import("./ca-ceremony.js")).runCaCeremony(argv[0], argv.slice(1), io);
  }
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseCommand(rest, {
      org: { type: "string" },
      parent: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      cn: { type: "string" },
      o: { type: "string" },
      ou: { type: "string" },
      c: { type: "string" },
      key: { type: "string" },
      days: { type: "string" },
      "path-length": { type: "string" },
      "allow-leaf": { type: "boolean" },
      "no-leaf": { type: "boolean" },
      "crl-base-url": { type: "string" },
      "key-storage": { type: "string" },
      cert: { type: "string" },
      "key-password": { type: "string" },
      roots: { type: "boolean" },
      reason: { type: "string" },
      format: { type: "string" },
      password: { type: "string" },
      out: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    // --allow-leaf / --no-leaf; absent leaves the default (or, for update, the current value)
    const allowLeaf = (): boolean | undefined => (values["allow-leaf"] === true ? true : values["no-leaf"] === true ? false : undefined);
    const subject = () => ({ commonName: required(values, "cn"), organization: optionalString(values, "o") ?? "", organizationalUnit: optionalString(values, "ou") ?? "", country: optionalString(values, "c") ?? "" });
    const common = () => ({
      name: required(values, "name"),
      description: optionalString(values, "description") ?? "",
      subject: subject(),
      keyAlgorithm: keyAlgorithmArg(optionalString(values, "key")),
      validityDays: optionalInt(values, "days") ?? 0,
      pathLength: optionalInt(values, "path-length"),
      crlBaseUrl: optionalString(values, "crl-base-url") ?? "",
      keyStorage: keyStorageArg(optionalString(values, "key-storage")),
    });
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "create-root": {
          const r = await cli.call(CertificateAuthorityService, "createRootCertificateAuthority", { organizationId: required(values, "org"), ...common(), allowLeafCerts: allowLeaf() ?? false });
          cli.print(CreateRootCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority)));
          return;
        }
        case "create-intermediate": {
          const r = await cli.call(CertificateAuthorityService, "createIntermediateCertificateAuthority", {
            parentId: required(values, "parent"),
            ...common(),
            allowLeafCerts: allowLeaf() ?? true,
          });
          cli.print(CreateIntermediateCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority)));
          return;
        }
        case "import": {
          const r = await cli.call(CertificateAuthorityService, "importCertificateAuthority", {
            organizationId: required(values, "org"),
            name: required(values, "name"),
            description: optionalString(values, "description") ?? "",
            certificatePem: await readInput(required(values, "cert"), "certificate", io),
            privateKeyPem: await readInput(required(values, "key"), "private key", io),
            privateKeyPassword: optionalString(values, "key-password") ?? "",
            parentId: optionalString(values, "parent") ?? "",
            allowLeafCerts: allowLeaf() ?? false,
            crlBaseUrl: optionalString(values, "crl-base-url") ?? "",
            keyStorage: keyStorageArg(optionalString(values, "key-storage")),
          });
          cli.print(ImportCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority)));
          return;
        }
        case "get": {
          const r = await cli.call(CertificateAuthorityService, "getCertificateAuthority", { id: arg(positionals, 0, "ID") });
          cli.print(GetCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority)) + r.certificateAuthority.certificatePem);
          return;
        }
        case "list": {
          const r = await cli.call(CertificateAuthorityService, "listCertificateAuthorities", {
            organizationId: optionalString(values, "org") ?? "",
            rootsOnly: values.roots === true,
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListCertificateAuthoritiesResponseSchema, r, () => table(r.certificateAuthorities.map(caRow), COLUMNS) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "chain": {
          const r = await cli.call(CertificateAuthorityService, "getCertificateAuthorityChain", { id: arg(positionals, 0, "ID") });
          cli.print(GetCertificateAuthorityChainResponseSchema, r, () => r.certificatePems.join(""));
          return;
        }
        case "children": {
          const r = await cli.call(CertificateAuthorityService, "listCertificateAuthorityChildren", {
            id: arg(positionals, 0, "ID"),
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListCertificateAuthorityChildrenResponseSchema, r, () => table(r.certificateAuthorities.map(caRow), COLUMNS) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "update": {
          const r = await cli.call(CertificateAuthorityService, "updateCertificateAuthority", {
            id: arg(positionals, 0, "ID"),
            description: optionalString(values, "description"),
            crlBaseUrl: optionalString(values, "crl-base-url"),
            allowLeafCerts: allowLeaf(),
          });
          cli.print(UpdateCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority)));
          return;
        }
        case "delete": {
          const r = await cli.call(CertificateAuthorityService, "deleteCertificateAuthority", { id: arg(positionals, 0, "ID") });
          cli.print(DeleteCertificateAuthorityResponseSchema, r, () => "deleted\n");
          return;
        }
        case "revoke": {
          const r = await cli.call(CertificateAuthorityService, "revokeCertificateAuthority", { id: arg(positionals, 0, "ID"), reason: reasonArg(optionalString(values, "reason")) });
          cli.print(RevokeCertificateAuthorityResponseSchema, r, () => details({ ...caRow(r.certificateAuthority), reason: reasonName(r.certificateAuthority.revocationReason) }));
          return;
        }
        case "export-key": {
          const { out, request } = exportKeyArgs(values, positionals, cli.json);
          const r = await cli.call(CertificateAuthorityService, "exportCertificateAuthorityPrivateKey", request);
          cli.print(ExportCertificateAuthorityPrivateKeyResponseSchema, r, () => writeKey(out, r.key));
          return;
        }
        default:
          throw new UsageError(`unknown ca command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
