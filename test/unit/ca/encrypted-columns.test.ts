import assert from "node:assert/strict";
import { ENCRYPTED_COLUMNS, JWT_SIGNING_KEY_SETTING, MASTER_KEY_CHECK_SETTING } from "../../../src/db/store/encrypted-columns.js";
import { eabKeyAad } from "../../../src/ra/acme/directories.js";
import { certKeyAad } from "../../../src/ra/issuance.js";
import { caKeyAad } from "../../../src/ra/issuers.js";
import { ocspSignerKeyAad } from "../../../src/ra/ocsp.js";

describe("the encrypted-column registry (src/db/store/encrypted-columns.ts)", () => {
  const byName = new Map(ENCRYPTED_COLUMNS.map((c) => [c.name, c]));
  const id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

  it("binds each column's blobs with the AAD its ra/ module seals with", () => {
    const cases: Array<[string, (id: string) => string]> = [
      ["certificate_authorities.encrypted_private_key", caKeyAad],
      ["certificates.encrypted_private_key", certKeyAad],
      ["ocsp_signers.encrypted_private_key", ocspSignerKeyAad],
      ["acme_eab_keys.encrypted_hmac_key", eabKeyAad],
    ];
    for (const [name, aad] of cases) assert.equal(byName.get(name)?.aad(id), aad(id), name);
    // system settings are bound to their key (src/ra/auth.ts, src/ra/bootstrap.ts)
    assert.equal(byName.get(`system_settings.value[${JWT_SIGNING_KEY_SETTING}]`)?.aad(JWT_SIGNING_KEY_SETTING), "jwt_signing_key");
    assert.equal(byName.get(`system_settings.value[${MASTER_KEY_CHECK_SETTING}]`)?.aad(MASTER_KEY_CHECK_SETTING), "master_key_check");
  });

  it("keeps only the master-key check value sealed by the master key itself", () => {
    assert.deepEqual(ENCRYPTED_COLUMNS.filter((c) => c.masterKeyOnly).map((c) => c.name), [`system_settings.value[${MASTER_KEY_CHECK_SETTING}]`]);
  });

  it("names every column once", () => {
    assert.equal(byName.size, ENCRYPTED_COLUMNS.length);
  });
});
