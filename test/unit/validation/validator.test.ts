import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { FixedClock } from "../../../src/core/clock.js";
import { dns01TxtValue } from "../../../src/validation/dns01.js";
import { createDnsResolver, createHttpFetcher, createTlsDialer, DnsError, NetworkError, type DnsResolver, type HttpFetcher, type TlsDialer } from "../../../src/validation/network.js";
import { parseNetworkPolicy } from "../../../src/validation/network-policy.js";
import type { ValidationRequest } from "../../../src/validation/types.js";
import { createChallengeValidator, createDefaultValidator, type ChallengeValidatorDeps } from "../../../src/validation/validator.js";
import { FakeResolver, keyAuthz, startHttpStub, unusedPort } from "./stubs.js";

const dnsReq = (token = "tok"): ValidationRequest => ({ type: "dns-01", identifier: { type: "dns", value: "example.test" }, token, keyAuthorization: keyAuthz(token) });
const httpReq = (token = "tok"): ValidationRequest => ({ type: "http-01", identifier: { type: "dns", value: "example.test" }, token, keyAuthorization: keyAuthz(token) });

/** a resolver answering TXT from a script, one entry per query (the last one repeats) */
function scriptedTxt(script: Array<string[][] | string>): DnsResolver & { calls: number } {
  const r = {
    calls: 0,
    resolveTxt(): Promise<string[][]> {
      const step = script[Math.min(r.calls++, script.length - 1)]!;
      return typeof step === "string" ? Promise.reject(new DnsError(step)) : Promise.resolve(step);
    },
    resolve4: () => Promise.resolve(["127.0.0.1"]),
    resolve6: () => Promise.reject(new DnsError("ENODATA")),
    resolveCaa: () => Promise.reject(new DnsError("ENODATA")),
  };
  return r;
}

const unusedFetcher: HttpFetcher = { get: () => Promise.reject(new Error("not used")) };
const unusedDialer: TlsDialer = { dial: () => Promise.reject(new Error("not used")) };

function deps(over: Partial<ChallengeValidatorDeps>): ChallengeValidatorDeps {
  const clock = new FixedClock(new Date("2030-01-01T00:00:00Z"));
  return {
    resolver: new FakeResolver(),
    fetcher: unusedFetcher,
    dialer: unusedDialer,
    httpPort: 80,
    tlsPort: 443,
    clock,
    // the fake sleep moves the fake clock: no real waiting
    sleep: async (ms) => clock.advance(ms),
    retry: { attempts: 3, delayMs: 1000, deadlineMs: 30_000 },
    ...over,
  };
}

describe("validation/validator: dispatch, retries, deadline, never throws", () => {
  it("ok/retry: a SERVFAIL then the right record is valid on the second attempt", async () => {
    const resolver = scriptedTxt(["ESERVFAIL", [[dns01TxtValue(keyAuthz("tok"))]]]);
    const out = await createChallengeValidator(deps({ resolver })).validate(dnsReq());
    assert.deepEqual(out, { status: "valid" });
    assert.equal(resolver.calls, 2);
  });

  it("ok/retry: a missing record that appears later (propagation) is valid", async () => {
    const resolver = scriptedTxt(["ENOTFOUND", "ENOTFOUND", [[dns01TxtValue(keyAuthz("tok"))]]]);
    assert.deepEqual(await createChallengeValidator(deps({ resolver })).validate(dnsReq()), { status: "valid" });
    assert.equal(resolver.calls, 3);
  });

  it("fail/retry: gives up after the configured attempts with the last error", async () => {
    const resolver = scriptedTxt(["ESERVFAIL"]);
    const slept: number[] = [];
    const d = deps({ resolver });
    const inner = d.sleep!;
    const out = await createChallengeValidator({ ...d, sleep: async (ms) => (slept.push(ms), inner(ms)) }).validate(dnsReq());
    assert.equal(out.status, "invalid");
    assert.equal(out.status === "invalid" && out.error.type, "dns");
    assert.equal(resolver.calls, 3);
    assert.deepEqual(slept, [1000, 1000]);
  });

  it("fail/retry: incorrectResponse is final, not retried", async () => {
    const resolver = scriptedTxt([[["wrong"]]]);
    const out = await createChallengeValidator(deps({ resolver })).validate(dnsReq());
    assert.equal(out.status === "invalid" && out.error.type, "incorrectResponse");
    assert.equal(resolver.calls, 1);
  });

  it("fail/retry: no attempt starts after the deadline", async () => {
    const resolver = scriptedTxt(["ETIMEOUT"]);
    const out = await createChallengeValidator(deps({ resolver, retry: { attempts: 100, delayMs: 1000, deadlineMs: 2500 } })).validate(dnsReq());
    assert.equal(out.status === "invalid" && out.error.type, "dns");
    assert.equal(resolver.calls, 3); // t = 0, 1000, 2000; 3000 would be past 2500
  });

  it("fail/retry: connection failures are retried", async () => {
    let calls = 0;
    const fetcher: HttpFetcher = { get: () => (calls++, Promise.reject(new NetworkError("connection", "refused", "ECONNREFUSED"))) };
    const out = await createChallengeValidator(deps({ resolver: new FakeResolver({ "example.test": { a: ["127.0.0.1"] } }), fetcher })).validate(httpReq());
    assert.equal(out.status === "invalid" && out.error.type, "connection");
    assert.equal(calls, 3);
  });

  it("fail/retry: the per-request timeout is capped by what is left of the deadline", async () => {
    const seen: number[] = [];
    const fetcher: HttpFetcher = { get: (r) => (seen.push(r.timeoutMs), Promise.reject(new NetworkError("timeout", "timeout", "ETIMEDOUT"))) };
    await createChallengeValidator(deps({ resolver: new FakeResolver({ "example.test": { a: ["127.0.0.1"] } }), fetcher, timeoutMs: 10_000, retry: { attempts: 3, delayMs: 1000, deadlineMs: 2500 } })).validate(httpReq());
    assert.deepEqual(seen, [2500, 1500, 500]);
  });

  it("fail/internal: an unexpected error becomes serverInternal with a generic detail, cause logged", async () => {
    const logged: object[] = [];
    const fetcher: HttpFetcher = { get: () => Promise.reject(new TypeError("secret internal detail")) };
    const out = await createChallengeValidator(
      deps({ resolver: new FakeResolver({ "example.test": { a: ["127.0.0.1"] } }), fetcher, logger: { error: (o) => void logged.push(o) } }),
    ).validate(httpReq());
    assert.deepEqual(out, { status: "invalid", error: { type: "serverInternal", detail: "the validation could not be performed" } });
    assert.equal(logged.length, 1);
  });

  it("fail/internal: a resolver throwing synchronously does not escape", async () => {
    const resolver: DnsResolver = {
      resolveTxt: () => {
        throw new Error("boom");
      },
      resolve4: () => Promise.resolve([]),
      resolve6: () => Promise.resolve([]),
      resolveCaa: () => Promise.resolve([]),
    };
    const out = await createChallengeValidator(deps({ resolver })).validate(dnsReq());
    assert.equal(out.status === "invalid" && out.error.type, "serverInternal");
  });

  it("fail/aborted: an aborted signal ends the validation without throwing and without retries", async () => {
    const ac = new AbortController();
    const resolver = scriptedTxt(["ESERVFAIL"]);
    const d = deps({ resolver });
    const out = await createChallengeValidator({ ...d, sleep: async () => ac.abort() }).validate(dnsReq(), ac.signal);
    assert.equal(out.status === "invalid" && out.error.type, "serverInternal");
    assert.equal(resolver.calls, 1);
  });

  it("fail/aborted: an abort cuts an in-flight HTTP request short", async () => {
    const stub = await startHttpStub(() => () => undefined); // never answers
    try {
      const ac = new AbortController();
      const v = createChallengeValidator({
        resolver: new FakeResolver({ "example.test": { a: ["127.0.0.1"] } }),
        fetcher: createHttpFetcher(),
        dialer: createTlsDialer(),
        httpPort: stub.port,
        tlsPort: 443,
        timeoutMs: 20_000,
      });
      setTimeout(() => ac.abort(), 50);
      const started = Date.now();
      const out = await v.validate(httpReq(), ac.signal);
      assert.ok(Date.now() - started < 5000);
      assert.equal(out.status === "invalid" && out.error.type, "serverInternal");
    } finally {
      await stub.close();
    }
  });
});

/**
 * The real resolver against a real DNS server: pebble-challtestsrv (RFC 8555
 * test companion). Missing binary fails loudly.
 */
describe("validation with the real DnsResolver against pebble-challtestsrv", function () {
  this.timeout(30_000);
  let proc: ChildProcess;
  let dnsPort: number;
  let mgmtPort: number;
  let output = "";

  async function mgmt(path: string, body: object): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${mgmtPort}${path}`, { method: "POST", body: JSON.stringify(body) });
    assert.equal(res.status, 200, `pebble-challtestsrv ${path}: ${res.status}`);
  }

  before(async () => {
    dnsPort = await unusedPort();
    mgmtPort = await unusedPort();
    const bin = process.env["PEBBLE_CHALLTESTSRV"] ?? "pebble-challtestsrv";
    proc = spawn(bin, ["-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${mgmtPort}`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const spawnError = new Promise<never>((_, reject) =>
      proc.once("error", (e) => reject(new Error(`cannot run ${bin} (required by this test; install pebble-challtestsrv): ${e.message}`))),
    );
    const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`${bin} exited with ${code}:\n${output}`))));
    const ready = (async () => {
      for (let i = 0; i < 100; i++) {
        try {
          await fetch(`http://127.0.0.1:${mgmtPort}/`);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error(`pebble-challtestsrv did not start:\n${output}`);
    })();
    await Promise.race([ready, spawnError, exited]);
  });

  after(() => {
    if (proc && proc.exitCode === null) proc.kill("SIGTERM");
  });

  const validator = (httpPort = 80) =>
    createDefaultValidator(
      { validationHttpPort: httpPort, validationTlsPort: 443, dnsServers: [`127.0.0.1:${dnsPort}`] },
      { retry: { attempts: 1, delayMs: 0, deadlineMs: 10_000 }, timeoutMs: 5000 },
    );

  it("ok/dns-01 real resolver finds the TXT record set through the management API", async () => {
    await mgmt("/set-txt", { host: "_acme-challenge.example.test.", value: dns01TxtValue(keyAuthz("real")) });
    const out = await validator().validate({ type: "dns-01", identifier: { type: "dns", value: "example.test" }, token: "real", keyAuthorization: keyAuthz("real") });
    assert.deepEqual(out, { status: "valid" });
  });

  it("fail/dns-01 real resolver, wrong TXT record", async () => {
    await mgmt("/set-txt", { host: "_acme-challenge.wrong.example.test.", value: "not-the-digest" });
    const out = await validator().validate({ type: "dns-01", identifier: { type: "dns", value: "wrong.example.test" }, token: "real", keyAuthorization: keyAuthz("real") });
    assert.equal(out.status === "invalid" && out.error.type, "incorrectResponse");
  });

  it("fail/dns-01 real resolver, no TXT record", async () => {
    const out = await validator().validate({ type: "dns-01", identifier: { type: "dns", value: "none.example.test" }, token: "real", keyAuthorization: keyAuthz("real") });
    assert.equal(out.status, "invalid");
    assert.equal(out.status === "invalid" && out.error.type, "dns");
    assert.equal(out.status === "invalid" && out.error.detail, "No TXT record found at _acme-challenge.none.example.test");
  });

  it("ok/http-01 end to end on the real network edges: challtestsrv A record -> local HTTP stub", async () => {
    const stub = await startHttpStub((req) => (req.url === "/.well-known/acme-challenge/e2e" ? (_q, res) => void res.end(keyAuthz("e2e")) : undefined));
    try {
      await mgmt("/add-a", { host: "e2e.example.test.", addresses: ["127.0.0.1"] });
      const out = await validator(stub.port).validate({ type: "http-01", identifier: { type: "dns", value: "e2e.example.test" }, token: "e2e", keyAuthorization: keyAuthz("e2e") });
      assert.deepEqual(out, { status: "valid" });
      assert.match(stub.requests.at(-1)?.host ?? "", /^e2e\.example\.test:\d+$/);
    } finally {
      await stub.close();
    }
  });

  it("fail/http-01 end to end with the configured production policy: the loopback A record is refused, the stub sees nothing", async () => {
    const stub = await startHttpStub(() => (_q, res) => void res.end(keyAuthz("e2e")));
    try {
      await mgmt("/add-a", { host: "e2e-policy.example.test.", addresses: ["127.0.0.1"] });
      const v = createDefaultValidator(
        { validationHttpPort: stub.port, validationTlsPort: 443, dnsServers: [`127.0.0.1:${dnsPort}`], validationAllowedNetworks: parseNetworkPolicy("public,private") },
        { retry: { attempts: 1, delayMs: 0, deadlineMs: 10_000 }, timeoutMs: 5000 },
      );
      const out = await v.validate({ type: "http-01", identifier: { type: "dns", value: "e2e-policy.example.test" }, token: "e2e", keyAuthorization: keyAuthz("e2e") });
      assert.equal(out.status === "invalid" && out.error.type, "connection");
      assert.match(out.status === "invalid" ? out.error.detail : "", /127\.0\.0\.1 \(loopback\).* not allowed as (a )?validation targets?$/);
      assert.equal(stub.requests.length, 0);
    } finally {
      await stub.close();
    }
  });

  it("ok/real resolver accepts a host name as DNS server (SIGIL_DNS_SERVERS)", async () => {
    const r = createDnsResolver([`localhost:${dnsPort}`]);
    assert.deepEqual(await r.resolve4("byname.example.test"), ["127.0.0.1"]);
  });

  it("fail/real resolver whose DNS server name does not resolve: serverInternal, not a dns error of the identifier", async () => {
    const v = createChallengeValidator({
      resolver: createDnsResolver(["no-such-resolver.invalid:53"]),
      fetcher: createHttpFetcher(),
      dialer: createTlsDialer(),
      httpPort: 80,
      tlsPort: 443,
      retry: { attempts: 1, delayMs: 0, deadlineMs: 5000 },
    });
    const out = await v.validate(dnsReq());
    assert.equal(out.status === "invalid" && out.error.type, "serverInternal");
  });

  it("real resolver resolves A records", async () => {
    const r = createDnsResolver([`127.0.0.1:${dnsPort}`]);
    assert.deepEqual(await r.resolve4("anything.example.test"), ["127.0.0.1"]); // challtestsrv default IPv4
  });
});
