/**
 * A SoftHSM2 token of the test's own: a temporary token directory and
 * configuration (SOFTHSM2_CONF), a token initialized in it with
 * softhsm2-util, and the SIGIL_PKCS11_* variables a server needs to use it.
 * SoftHSM2 reads SOFTHSM2_CONF at C_Initialize, so this process's variable
 * is set too (the servers of these tests run in-process). A missing
 * softhsm2 package fails the test with the command to install it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** where Debian's softhsm2 package puts the module */
export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

export interface TestToken {
  module: string;
  label: string;
  pin: string;
  /** SOFTHSM2_CONF of this token's configuration */
  conf: string;
  /** SIGIL_PKCS11_MODULE, SIGIL_PKCS11_TOKEN_LABEL and SIGIL_PKCS11_PIN for a test server */
  env: Record<string, string>;
  remove(): void;
}

export function createTestToken(label = "sigil-test"): TestToken {
  if (!existsSync(SOFTHSM_MODULE)) throw new Error(`SoftHSM2 is missing (${SOFTHSM_MODULE}): apt-get install -y softhsm2`);
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-softhsm-"));
  const tokens = path.join(dir, "tokens");
  mkdirSync(tokens);
  const conf = path.join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = "4321-test-pin";
  try {
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", "12345678", "--pin", pin], {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT") throw new Error("softhsm2-util is missing: apt-get install -y softhsm2");
    throw new Error(`softhsm2-util --init-token failed: ${err.stderr?.toString() ?? err.message}`);
  }
  process.env.SOFTHSM2_CONF = conf;
  return {
    module: SOFTHSM_MODULE,
    label,
    pin,
    conf,
    env: { SIGIL_PKCS11_MODULE: SOFTHSM_MODULE, SIGIL_PKCS11_TOKEN_LABEL: label, SIGIL_PKCS11_PIN: pin },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
