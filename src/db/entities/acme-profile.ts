import { EntitySchema, type Opt } from "@mikro-orm/core";
import type { IdentifierType, LeafType } from "../../core/types.js";
import { AcmeDirectory } from "./acme.js";
import { createdAtProperty, idProperty, updatedAtProperty } from "./common.js";

/**
 * An ACME profile (draft-ietf-acme-profiles-00 §3): a named way a directory
 * issues, listed in the directory's meta.profiles and chosen by newOrder's
 * `profile`. Read on the ACME path by src/db/store/acme-profiles.ts (SQL);
 * the entity keeps the ORM schema (and its diff test) in step.
 */
export class AcmeProfile {
  id!: string;
  directory!: AcmeDirectory;
  /** lower case, unique within the directory; what orders store */
  name!: string;
  /** the meta.profiles description */
  description: Opt<string> = "";
  certificateKind: Opt<LeafType> = "server";
  maxValiditySeconds!: number;
  /** RFC 5280 §4.2.1.3 names; empty = digitalSignature (+ keyEncipherment for RSA keys) */
  keyUsages: Opt<string[]> = [];
  includeCommonName: Opt<boolean> = true;
  maxIdentifiers: Opt<number> = 100;
  identifierTypes: Opt<IdentifierType[]> = ["dns", "ip"];
  authorizationReuseSeconds: Opt<number> = 2_592_000;
  orderLifetimeSeconds: Opt<number> = 604_800;
  pendingAuthorizationLifetimeSeconds: Opt<number> = 604_800;
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const AcmeProfileSchema = new EntitySchema<AcmeProfile>({
  class: AcmeProfile,
  tableName: "acme_profiles",
  uniques: [{ name: "acme_profiles_directory_id_name_unique", properties: ["directory", "name"] }],
  properties: {
    id: idProperty,
    directory: { kind: "m:1", entity: () => AcmeDirectory, deleteRule: "cascade" },
    name: { type: "string", length: 64 },
    description: { type: "string", length: 512, default: "" },
    certificateKind: { type: "string", length: 16, default: "server" },
    maxValiditySeconds: { type: "integer" },
    keyUsages: { type: "json", default: "[]" },
    includeCommonName: { type: "boolean", default: true },
    maxIdentifiers: { type: "integer", default: 100 },
    identifierTypes: { type: "json", default: '["dns","ip"]' },
    authorizationReuseSeconds: { type: "integer", default: 2_592_000 },
    orderLifetimeSeconds: { type: "integer", default: 604_800 },
    pendingAuthorizationLifetimeSeconds: { type: "integer", default: 604_800 },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
