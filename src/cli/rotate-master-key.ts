/**
 * `sigil rotate-master-key --new-key-file F`: master-key rotation that
 * finishes (issue 14 item 4, docs/key-custody.md "Master-key rotation").
 * Runs straight on the database with the configured master keys (current
 * and previous open what is stored), like `sigil admin`: it re-wraps every
 * data key and moves every legacy blob under the key in F, in batches of
 * one transaction each. Killed at any point, it is resumed by running it
 * again; when it reports done, only the new key is needed.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseMasterKey } from "../ca/key-encryption.js";
import { loadMasterKey } from "../ca/master-key-source.js";
import { loadConfig } from "../config.js";
import { systemClock } from "../core/clock.js";
import { SigilError } from "../core/errors.js";
import { openDatabase } from "../db/orm.js";
import { createRaContext } from "../ra/context.js";
import { DEFAULT_ROTATION_BATCH, masterKeyNeeds, rotateMasterKey } from "../ra/key-rotation.js";
import { runCli, UsageError } from "./admin-client.js";
import type { CliIo } from "./io.js";

const USAGE = `usage: sigil rotate-master-key --new-key-file FILE [--batch-size N] [--pause-ms MS] [--json]

Re-encrypts every stored secret under the master key in FILE (64 hex
characters or base64 of 32 bytes; generate one with \`openssl rand -hex 32 > FILE\`):
the data keys are re-wrapped and secrets still sealed directly by an old
master key move to their organization's data key. Needs the database
(DATABASE_URL, or the embedded one in SIGIL_DATA_DIR while no server holds it)
and the configured master keys (SIGIL_MASTER_KEY / SIGIL_MASTER_KEY_FILE and
SIGIL_PREVIOUS_MASTER_KEYS) that open what is stored. Each batch is one
transaction; a run that was interrupted is continued by running it again.
Audited (start and finish, key ids and counts; never key material).

When it reports done, configure FILE's key as SIGIL_MASTER_KEY; the old keys can
then be removed (start-up refuses while anything still needs one, and warns
about configured keys nothing needs). docs/key-custody.md has the procedure
for several instances.

  --new-key-file FILE  the new master key
  --batch-size N       rows per transaction (default ${DEFAULT_ROTATION_BATCH})
  --pause-ms MS        wait between batches, to spare a busy database (default 0)
  --json               print the result as JSON
`;

/** `sigil rotate-master-key` */
export async function runRotateMasterKey(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    let values: { help?: boolean; "new-key-file"?: string; "batch-size"?: string; "pause-ms"?: string; json?: boolean };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: { help: { type: "boolean", short: "h" }, "new-key-file": { type: "string" }, "batch-size": { type: "string" }, "pause-ms": { type: "string" }, json: { type: "boolean" } },
        strict: true,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) return void io.stdout.write(USAGE);
    const file = values["new-key-file"];
    if (!file) throw new UsageError("--new-key-file is required");
    const batchText = values["batch-size"];
    const batchSize = batchText === undefined ? DEFAULT_ROTATION_BATCH : Number(batchText);
    if (!/^\d+$/.test(batchText ?? "1") || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new UsageError("--batch-size must be an integer 1..10000");
    }
    const pauseText = values["pause-ms"] ?? "0";
    if (!/^\d{1,6}$/.test(pauseText)) throw new UsageError("--pause-ms must be an integer 0..999999");
    const pauseMs = Number(pauseText);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw SigilError.config(`--new-key-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? "error"})`, "--new-key-file");
    }
    const newKey = parseMasterKey(text, "--new-key-file");

    const config = loadConfig(io.env);
    const masterKey = loadMasterKey(config);
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2, holder: "sigil rotate-master-key" });
    try {
      const ra = createRaContext({ orm: db.orm, keyRing: masterKey.ring, clock: systemClock, publicUrl: config.publicUrl, bcryptCost: config.bcryptCost });
      const log = (line: string) => {
        if (!values.json) io.stdout.write(`${line}\n`);
      };
      const target = masterKey.ring.withCurrent(newKey).currentKeyId;
      log(`rotating to master key ${target} (from ${masterKey.ring.keyIds.filter((id) => id !== target).join(", ") || "nothing else"}), batches of ${batchSize}`);
      const result = await rotateMasterKey(ra, newKey, {
        batchSize,
        pauseMs,
        // one line per committed batch: the progress an operator (and the kill -9 test) watches
        onBatch: (b) => log(`batch committed: ${b.what} ${b.count}`),
      });
      // what the database needs now: only the new key, or it says what is left
      const needs = await masterKeyNeeds(ra.store, masterKey.ring.withCurrent(newKey));
      const left = [...needs.needed].filter(([id]) => id !== target);
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ ...result, done: left.length === 0, stillNeeded: Object.fromEntries(left) })}\n`);
      } else {
        const moved = Object.entries(result.blobsReencrypted).filter(([, n]) => n > 0).map(([c, n]) => `${n} ${c}`);
        log(`data keys re-wrapped: ${result.dataKeysRewrapped}; secrets re-encrypted: ${moved.length ? moved.join(", ") : "none"}`);
        if (left.length) {
          log(`not done: still needed ${left.map(([id, what]) => `${id} (${what.join(", ")})`).join("; ")} (written meanwhile by a running instance? run again)`);
        } else {
          log(`done: everything is sealed by master key ${target}; configure it as SIGIL_MASTER_KEY and remove the old keys`);
        }
      }
      return left.length ? 1 : 0;
    } finally {
      await db.close();
    }
  });
}
