import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SigilConfig } from "../config.js";
import { SigilError } from "../core/errors.js";
import { MasterKeyRing, parseMasterKey } from "./key-encryption.js";

export const GENERATED_MASTER_KEY_FILE = "master.key";

export interface LoadedMasterKey {
  ring: MasterKeyRing;
  /** where the current key came from, for the start-up log (never the key itself) */
  source: "SIGIL_MASTER_KEY" | "SIGIL_MASTER_KEY_FILE" | "generated" | "data-dir";
}

/**
 * Finds the master key that encrypts CA private keys at rest:
 * SIGIL_MASTER_KEY, else SIGIL_MASTER_KEY_FILE, else (embedded default only)
 * `<dataDir>/master.key`, generated with mode 0600 on first run. With an
 * external PostgreSQL a key must be configured: generating one silently on a
 * single host would strand the other instances.
 */
export function loadMasterKey(config: SigilConfig): LoadedMasterKey {
  const previous = config.previousMasterKeys.map((k) => parseMasterKey(k, "SIGIL_PREVIOUS_MASTER_KEYS"));
  if (config.masterKey) {
    return { ring: MasterKeyRing.fromKeys(parseMasterKey(config.masterKey, "SIGIL_MASTER_KEY"), previous), source: "SIGIL_MASTER_KEY" };
  }
  if (config.masterKeyFile) {
    let text: string;
    try {
      text = readFileSync(config.masterKeyFile, "utf8").trim();
    } catch (e) {
      throw SigilError.config(`SIGIL_MASTER_KEY_FILE: cannot read ${config.masterKeyFile} (${(e as NodeJS.ErrnoException).code ?? "error"})`, "SIGIL_MASTER_KEY_FILE");
    }
    return { ring: MasterKeyRing.fromKeys(parseMasterKey(text, "SIGIL_MASTER_KEY_FILE"), previous), source: "SIGIL_MASTER_KEY_FILE" };
  }
  if (config.databaseUrl) {
    throw SigilError.config("SIGIL_MASTER_KEY or SIGIL_MASTER_KEY_FILE must be set when DATABASE_URL is used", "SIGIL_MASTER_KEY");
  }
  const file = path.join(config.dataDir, GENERATED_MASTER_KEY_FILE);
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw SigilError.config(`${file} is readable by other users (mode ${mode.toString(8)}); chmod 600 it`, "SIGIL_DATA_DIR");
    }
    const key = parseMasterKey(readFileSync(file, "utf8").trim(), "SIGIL_DATA_DIR");
    return { ring: MasterKeyRing.fromKeys(key, previous), source: "data-dir" };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  // "wx": never overwrite a key another process wrote in between
  writeFileSync(file, `${key.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return { ring: MasterKeyRing.fromKeys(key, previous), source: "generated" };
}
