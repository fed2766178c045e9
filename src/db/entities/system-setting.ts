import { EntitySchema, type Opt } from "@mikro-orm/core";
import { updatedAtProperty } from "./common.js";

/**
 * Small server-wide facts, by key. Holds the master-key check value: a known
 * plaintext encrypted under the master key, so a wrong key stops start-up
 * before anything is read or written with it.
 */
export class SystemSetting {
  key!: string;
  value!: string;
  updatedAt!: Opt<Date>;
}

export const SystemSettingSchema = new EntitySchema<SystemSetting>({
  class: SystemSetting,
  tableName: "system_settings",
  properties: {
    key: { type: "string", length: 64, primary: true },
    value: { type: "text" },
    updatedAt: updatedAtProperty,
  },
});
