import { parseArgs } from "node:util";
import type { CliIo } from "./io.js";

const USAGE = `usage: sigil health [--server URL] [--timeout SECONDS]

Asks a running server's GET /readyz and prints its JSON answer: every check
(database, migrations, masterKey, draining) with the failing ones named.
Exits 0 when the server is ready, 1 when it is not or cannot be reached
(for scripts, container HEALTHCHECKs and monitoring).

  --server URL       the HTTP listener (default http://127.0.0.1:$SIGIL_HTTP_PORT, port 8080)
  --timeout SECONDS  how long to wait for the answer (default 5)
`;

/** `sigil health`: the server's readiness as JSON; exit 0 ready, 1 not ready or unreachable, 2 usage. */
export async function runHealth(argv: string[], io: CliIo): Promise<number> {
  let values: { help?: boolean; server?: string; timeout?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { help: { type: "boolean", short: "h" }, server: { type: "string" }, timeout: { type: "string" } },
      strict: true,
    }));
  } catch (e) {
    io.stderr.write(`sigil: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const timeoutSeconds = values.timeout === undefined ? 5 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    io.stderr.write(`sigil: --timeout: "${values.timeout}" is not a positive number of seconds\n`);
    return 2;
  }
  const base = (values.server ?? `http://127.0.0.1:${io.env.SIGIL_HTTP_PORT || "8080"}`).replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(`${base}/readyz`);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
  } catch {
    io.stderr.write(`sigil: --server: "${base}" is not an http(s) URL\n`);
    return 2;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000), headers: { accept: "application/json" } });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = { status: "unavailable", error: `HTTP ${res.status} without a JSON body` };
    }
    io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return res.status === 200 ? 0 : 1;
  } catch (e) {
    const reason = e instanceof Error && e.name === "TimeoutError" ? `no answer within ${timeoutSeconds} s` : ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
    io.stdout.write(`${JSON.stringify({ status: "unreachable", server: base, error: reason }, null, 2)}\n`);
    return 1;
  }
}
