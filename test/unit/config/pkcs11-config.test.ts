/** SIGIL_PKCS11_* (src/config.ts, docs/key-custody.md): all or nothing, and a wrong value names its variable. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../../src/config.js";
import { SigilError } from "../../../src/core/errors.js";
import { SOFTHSM_MODULE } from "../../helpers/softhsm.js";

describe("config: SIGIL_PKCS11_*", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-pkcs11-config-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const refused = (variable: string, pattern: RegExp) => (e: unknown) => {
    assert.ok(e instanceof SigilError && e.kind === "config", String(e));
    assert.equal(e.field, variable);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("secret-pin"), "the PIN is never echoed");
    return true;
  };

  it("ok/unset: no token", () => {
    assert.equal(loadConfig({}).pkcs11, undefined);
  });

  it("ok/label-and-pin, ok/slot-and-pin-file (one trailing newline dropped), sessions default 4", () => {
    const a = loadConfig({ SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_TOKEN_LABEL: "sigil", SIGIL_PKCS11_PIN: "secret-pin" }).pkcs11;
    assert.deepEqual(a, { module: SOFTHSM_MODULE, tokenLabel: "sigil", pin: "secret-pin", sessions: 4 });
    const pinFile = path.join(dir, "pin");
    writeFileSync(pinFile, "secret-pin\n");
    const b = loadConfig({ SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_SLOT: "1234567890", SIGIL_PKCS11_PIN_FILE: pinFile, SIGIL_PKCS11_SESSIONS: "8" }).pkcs11;
    assert.deepEqual(b, { module: SOFTHSM_MODULE, slot: 1234567890n, pin: "secret-pin", sessions: 8 });
  });

  it("fail/partial: a PKCS#11 variable without the module, a module without token or PIN", () => {
    assert.throws(() => loadConfig({ SIGIL_PKCS11_PIN: "secret-pin" }), refused("SIGIL_PKCS11_PIN", /SIGIL_PKCS11_MODULE is not/));
    assert.throws(() => loadConfig({ SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_PIN: "secret-pin" }), refused("SIGIL_PKCS11_TOKEN_LABEL", /LABEL or SIGIL_PKCS11_SLOT/));
    assert.throws(() => loadConfig({ SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_TOKEN_LABEL: "sigil" }), refused("SIGIL_PKCS11_PIN", /PIN or SIGIL_PKCS11_PIN_FILE/));
  });

  it("fail/bad-values: relative or missing module, both label and slot, a bad slot, both PINs, an unreadable or empty PIN file, sessions out of range", () => {
    const base = { SIGIL_PKCS11_TOKEN_LABEL: "sigil", SIGIL_PKCS11_PIN: "secret-pin" };
    assert.throws(() => loadConfig({ ...base, SIGIL_PKCS11_MODULE: "libsofthsm2.so" }), refused("SIGIL_PKCS11_MODULE", /absolute path/));
    assert.throws(() => loadConfig({ ...base, SIGIL_PKCS11_MODULE: "/nonexistent/lib.so" }), refused("SIGIL_PKCS11_MODULE", /does not exist/));
    const m = { SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_PIN: "secret-pin" };
    assert.throws(() => loadConfig({ ...m, SIGIL_PKCS11_TOKEN_LABEL: "a", SIGIL_PKCS11_SLOT: "1" }), refused("SIGIL_PKCS11_SLOT", /only one/));
    assert.throws(() => loadConfig({ ...m, SIGIL_PKCS11_SLOT: "slot-1" }), refused("SIGIL_PKCS11_SLOT", /not a slot id/));
    assert.throws(() => loadConfig({ ...m, SIGIL_PKCS11_TOKEN_LABEL: "x".repeat(33) }), refused("SIGIL_PKCS11_TOKEN_LABEL", /32 bytes/));
    assert.throws(() => loadConfig({ ...m, SIGIL_PKCS11_TOKEN_LABEL: "a", SIGIL_PKCS11_PIN_FILE: "/x" }), refused("SIGIL_PKCS11_PIN", /only one/));
    const empty = path.join(dir, "empty");
    writeFileSync(empty, "");
    const f = { SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_TOKEN_LABEL: "a" };
    assert.throws(() => loadConfig({ ...f, SIGIL_PKCS11_PIN_FILE: path.join(dir, "missing") }), refused("SIGIL_PKCS11_PIN_FILE", /cannot read .*ENOENT/));
    assert.throws(() => loadConfig({ ...f, SIGIL_PKCS11_PIN_FILE: empty }), refused("SIGIL_PKCS11_PIN_FILE", /is empty/));
    assert.throws(() => loadConfig({ ...base, SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_SESSIONS: "0" }), (e: unknown) => e instanceof SigilError && e.field === "SIGIL_PKCS11_SESSIONS");
  });
});
