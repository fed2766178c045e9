import { EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, optionalTimestamp } from "./common.js";
import { Organization } from "./organization.js";

export type DataKeyStatus = "active" | "retired";

/**
 * A data key (envelope encryption, docs/key-custody.md): 32 random bytes
 * that seal one organization's secrets (or the system's, organization
 * null), stored wrapped by the master key as an sgk1 blob. One active key
 * per scope seals; retired keys only open what they sealed until
 * re-encryption moves it. Read and written only by src/db/store/data-keys.ts.
 */
export class DataKey {
  id!: string;
  organization?: Organization | null;
  wrappedKey!: string;
  status: Opt<DataKeyStatus> = "active";
  createdAt!: Opt<Date>;
  retiredAt?: Date | null;
}

export const DataKeySchema = new EntitySchema<DataKey>({
  class: DataKey,
  tableName: "data_keys",
  indexes: [
    { properties: ["organization"] },
    {
      name: "data_keys_active_scope_unique",
      expression: `create unique index "data_keys_active_scope_unique" on "data_keys" ((coalesce("organization_id", '00000000-0000-0000-0000-000000000000'::uuid))) where "status" = 'active'`,
    },
  ],
  properties: {
    id: idProperty,
    organization: { kind: "m:1", entity: () => Organization, nullable: true, deleteRule: "cascade" },
    wrappedKey: { type: "text" },
    status: { type: "string", length: 16, default: "active" },
    createdAt: createdAtProperty,
    retiredAt: optionalTimestamp,
  },
});
