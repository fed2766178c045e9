/**
 * Starts the real server (as test/helpers/server.ts does) with an injected
 * ACME challenge validator, plus small helpers for raw ACME requests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig, type SigilConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil, type SigilServer, type StartOptions } from "../../../src/server.js";
import type { ChallengeValidator, ValidationOutcome, ValidationRequest } from "../../../src/validation/types.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";

export interface AcmeTestServer extends SigilServer {
  config: SigilConfig;
  baseUrl: string;
  directoryUrl(name?: string): string;
  stop(): Promise<void>;
}

export async function startAcmeTestServer(
  opts: { validator?: ChallengeValidator; env?: Record<string, string>; acme?: StartOptions["acme"] } = {},
): Promise<AcmeTestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-acme-test-"));
  const db = await createTestDatabase();
  const httpPort = await freePort();
  const config = loadConfig({ ...testServerEnv({ dataDir, httpPort, databaseUrl: db.url }), ...opts.env });
  const server = await startSigil({ config, logger: createLogger(config.logLevel), validator: opts.validator, acme: opts.acme });
  const baseUrl = `http://127.0.0.1:${server.httpPort}`;
  return {
    ...server,
    config,
    baseUrl,
    directoryUrl: (name = "default") => `${baseUrl}/acme/${name}/directory`,
    async stop() {
      await server.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A validator whose answers tests set; records what it was asked. */
export class FakeValidator implements ChallengeValidator {
  readonly requests: ValidationRequest[] = [];
  outcome: (req: ValidationRequest) => ValidationOutcome | Promise<ValidationOutcome> = () => ({ status: "valid" });
  async validate(req: ValidationRequest): Promise<ValidationOutcome> {
    this.requests.push(req);
    return this.outcome(req);
  }
}
