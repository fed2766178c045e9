/**
 * The system_settings table: small server-wide facts by key (the JWT
 * signing key and the master-key check value, both encrypted under the
 * master key). Several instances may start at once against one database:
 * a value is inserted only if absent, and everyone reads back the winner.
 */
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** the columns SETTING_INSERT writes, in parameter order */
export const SYSTEM_SETTING_INSERT_COLUMNS = ["key", "value", "updated_at"] as const;

const SETTING_GET = statement("sigil_system_settings_get", `select value from system_settings where key = $1`);
const SETTING_INSERT = statement(
  "sigil_system_settings_insert_absent",
  `insert into system_settings (${SYSTEM_SETTING_INSERT_COLUMNS.join(", ")}) values ($1, $2, $3) on conflict (key) do nothing`,
);

/** The value stored under `key`, if any. */
export async function getSetting(s: Session, key: string): Promise<string | undefined> {
  const [r] = await sqlOf(s).query<{ value: string }>(SETTING_GET, [key]);
  return r?.value;
}

/**
 * Stores `value` under `key` unless a value is already there, and returns
 * the stored value (this one, or the one another instance wrote first).
 */
export async function putSettingIfAbsent(s: Session, key: string, value: string, now: Date): Promise<string> {
  await sqlOf(s).query(SETTING_INSERT, [key, value, now]);
  const stored = await getSetting(s, key);
  if (stored === undefined) throw new Error(`system setting ${key} vanished after its insert`);
  return stored;
}
