import { EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, updatedAtProperty } from "./common.js";

/** A tenant: owns users, CAs, certificates, ACME directories, EAB keys and its slice of the audit log. */
export class Organization {
  id!: string;
  name!: string;
  description: Opt<string> = "";
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const OrganizationSchema = new EntitySchema<Organization>({
  class: Organization,
  tableName: "organizations",
  properties: {
    id: idProperty,
    name: { type: "string", length: 128, unique: true },
    description: { type: "text", default: "" },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
