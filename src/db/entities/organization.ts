import { EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, updatedAtProperty } from "./common.js";

/** A tenant: owns users, CAs, certificates, ACME directories, EAB keys and its slice of the audit log. */
export class Organization {
  id!: string;
  name!: string;
  description: Opt<string> = "";
  /** unique URL-safe short name, stored lower case (issue 13 item 1) */
  slug!: string;
  /** typed in src/ra/organization-settings.ts; {} = every default */
  settings: Opt<Record<string, unknown>> = {};
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const OrganizationSchema = new EntitySchema<Organization>({
  class: Organization,
  tableName: "organizations",
  uniques: [{ name: "organizations_slug_lower_unique", expression: `create unique index "organizations_slug_lower_unique" on "organizations" (lower("slug"))` }],
  properties: {
    id: idProperty,
    name: { type: "string", length: 128, unique: true },
    description: { type: "text", default: "" },
    slug: { type: "string", length: 63 },
    settings: { type: "json", default: "{}" },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
