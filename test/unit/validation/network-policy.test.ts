import assert from "node:assert/strict";
import type { Identifier } from "../../../src/core/types.js";
import { createHttpFetcher, NetworkError, type TlsDialer } from "../../../src/validation/network.js";
import { defaultNetworkPolicy, NetworkPolicyError, parseNetworkPolicy, type AddressClass } from "../../../src/validation/network-policy.js";
import type { ValidationOutcome, ValidationRequest } from "../../../src/validation/types.js";
import { createChallengeValidator, type ChallengeValidatorDeps } from "../../../src/validation/validator.js";
import { FakeResolver, fetched, keyAuthz, RecordingDialer, RecordingFetcher, startHttpStub, type FakeZone } from "./stubs.js";

/** the production default, whatever the test process allows */
const PRODUCTION = parseNetworkPolicy("public,private");
const PUBLIC_V4 = "93.184.216.34";
const PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946";

describe("validation/network-policy: which addresses validation may connect to (RFC 8555 §10.2)", () => {
  const verdicts: Array<[string, boolean, AddressClass]> = [
    [PUBLIC_V4, true, "public"],
    ["8.8.8.8", true, "public"],
    [PUBLIC_V6, true, "public"],
    ["10.1.2.3", true, "private"],
    ["172.31.255.255", true, "private"],
    ["192.168.1.1", true, "private"],
    ["fd12:3456::1", true, "private"],
    ["127.0.0.1", false, "loopback"],
    ["127.255.0.9", false, "loopback"],
    ["::1", false, "loopback"],
    ["169.254.1.1", false, "link-local"],
    ["fe80::1", false, "link-local"],
    ["169.254.169.254", false, "metadata"],
    ["fd00:ec2::254", false, "metadata"],
    ["100.100.100.200", false, "metadata"],
    ["168.63.129.16", false, "metadata"],
    ["0.0.0.0", false, "unspecified"],
    ["::", false, "unspecified"],
    ["0.1.2.3", false, "reserved"],
    ["224.0.0.1", false, "multicast"],
    ["ff02::1", false, "multicast"],
    ["100.64.0.1", false, "shared"],
    ["192.0.2.1", false, "reserved"],
    ["198.51.100.7", false, "reserved"],
    ["203.0.113.9", false, "reserved"],
    ["198.18.0.1", false, "reserved"],
    ["240.0.0.1", false, "reserved"],
    ["255.255.255.255", false, "reserved"],
    ["192.0.0.192", false, "reserved"],
    ["2001:db8::1", false, "reserved"],
    ["2001::1", false, "reserved"],
    ["100::1", false, "reserved"],
    ["fec0::1", false, "reserved"],
    ["4000::1", false, "reserved"],
    // forms embedding an IPv4 address are judged as that address
    ["::ffff:127.0.0.1", false, "loopback"],
    ["::ffff:7f00:1", false, "loopback"],
    ["::ffff:169.254.169.254", false, "metadata"],
    ["::ffff:0:127.0.0.1", false, "loopback"],
    ["::127.0.0.1", false, "loopback"],
    ["64:ff9b::127.0.0.1", false, "loopback"],
    ["64:ff9b::a9fe:a9fe", false, "metadata"],
    ["2002:7f00:1::1", false, "loopback"],
    ["2002:a9fe:a9fe::", false, "metadata"],
    ["::ffff:8.8.8.8", true, "public"],
    ["64:ff9b::808:808", true, "public"],
    ["2002:808:808::1", true, "public"],
    ["::ffff:10.0.0.1", true, "private"],
    // not an address
    ["example.com", false, "reserved"],
    ["fe80::1%eth0", false, "reserved"],
  ];
  for (const [ip, allowed, cls] of verdicts) {
    it(`${allowed ? "ok" : "fail"}/default policy ${allowed ? "allows" : "refuses"} ${ip} (${cls})`, () => {
      assert.deepEqual(PRODUCTION.check(ip), { allowed, class: cls });
    });
  }

  it("ok/a CIDR allows what it contains, also through the IPv4-mapped form, and nothing else", () => {
    const p = parseNetworkPolicy("127.0.0.0/8");
    assert.equal(p.check("127.0.0.1").allowed, true);
    assert.equal(p.check("::ffff:127.0.0.5").allowed, true);
    assert.equal(p.check("::1").allowed, false);
    assert.equal(p.check("10.0.0.1").allowed, false);
    assert.equal(p.check(PUBLIC_V4).allowed, false);
  });

  it("ok/an IPv4-mapped CIDR is read as its IPv4 range", () => {
    const p = parseNetworkPolicy("::ffff:10.0.0.0/104");
    assert.equal(p.check("10.1.2.3").allowed, true);
    assert.equal(p.check("::ffff:10.1.2.3").allowed, true);
    assert.equal(p.check("11.0.0.1").allowed, false);
  });

  it("ok/words and CIDRs combine; words are case-insensitive; a bare address is a /32 or /128", () => {
    const p = parseNetworkPolicy(" PUBLIC , 169.254.169.254, fe80::/10 ");
    assert.equal(p.spec, "public,169.254.169.254,fe80::/10");
    assert.equal(p.check(PUBLIC_V4).allowed, true);
    assert.equal(p.check("10.0.0.1").allowed, false);
    assert.equal(p.check("169.254.169.254").allowed, true);
    assert.equal(p.check("169.254.169.253").allowed, false);
    assert.equal(p.check("fe80::abcd").allowed, true);
  });

  const badSpecs: Array<[string, RegExp]> = [
    ["", /no networks/],
    [" , ", /no networks/],
    ["publik", /"publik" is not public, private or a CIDR/],
    ["10.0.0.0/33", /prefix length/],
    ["10.0.0.0/", /prefix length/],
    ["10.0.0.0/0x8", /prefix length/],
    ["::/129", /prefix length/],
    ["10.0.0.1/8", /host bits/],
    ["10.0.0.0/8/8", /not public, private or a CIDR/],
  ];
  for (const [spec, msg] of badSpecs) {
    it(`fail/parse ${JSON.stringify(spec)}`, () => {
      assert.throws(() => parseNetworkPolicy(spec), (e: unknown) => e instanceof NetworkPolicyError && msg.test(e.message));
    });
  }

  it("ok/defaultNetworkPolicy: public,private unless SIGIL_VALIDATION_ALLOWED_NETWORKS says otherwise", () => {
    assert.equal(defaultNetworkPolicy({}).spec, "public,private");
    assert.equal(defaultNetworkPolicy({ SIGIL_VALIDATION_ALLOWED_NETWORKS: "" }).spec, "public,private");
    assert.equal(defaultNetworkPolicy({ SIGIL_VALIDATION_ALLOWED_NETWORKS: "127.0.0.0/8" }).check("127.0.0.1").allowed, true);
    assert.equal(defaultNetworkPolicy({}).check("127.0.0.1").allowed, false);
  });
});

// ---------------------------------------------------------------------------

const dns = (value: string): Identifier => ({ type: "dns", value });
const ip = (value: string): Identifier => ({ type: "ip", value });
const req = (type: ValidationRequest["type"], identifier: Identifier, token = "tok", extra: Partial<ValidationRequest> = {}): ValidationRequest => ({
  type,
  identifier,
  token,
  keyAuthorization: keyAuthz(token),
  ...extra,
});
const neverDialer: TlsDialer = { dial: () => Promise.reject(new Error("the dialer must not be called")) };

function validator(zone: Record<string, FakeZone>, over: Partial<ChallengeValidatorDeps>): ReturnType<typeof createChallengeValidator> {
  return createChallengeValidator({
    resolver: new FakeResolver(zone),
    fetcher: new RecordingFetcher(() => fetched(404)),
    dialer: neverDialer,
    httpPort: 80,
    tlsPort: 443,
    networkPolicy: PRODUCTION,
    retry: { attempts: 3, delayMs: 0, deadlineMs: 10_000 },
    sleep: async () => undefined,
    ...over,
  });
}

function refused(out: ValidationOutcome, address: RegExp): string {
  assert.equal(out.status, "invalid");
  if (out.status !== "invalid") return "";
  assert.equal(out.error.type, "connection", out.error.detail);
  assert.match(out.error.detail, /(is not allowed as a validation target|are not allowed as validation targets)$/);
  assert.match(out.error.detail, address);
  // no port state: nothing was attempted, so nothing like "refused", "timeout" or "reset" may appear
  assert.doesNotMatch(out.error.detail, /connection refused|timeout|reset|unreachable|ECONN/i);
  return out.error.detail;
}

describe("validation/network-policy in the validators: checked before connecting", () => {
  it("fail/http-01 to a loopback stub is refused by default and the stub sees no request", async () => {
    const stub = await startHttpStub(() => (_req, res) => void res.writeHead(200).end(keyAuthz("tok")));
    try {
      const v = createChallengeValidator({
        resolver: new FakeResolver({ "loop.test": { a: ["127.0.0.1"], aaaa: ["::1"] } }),
        fetcher: createHttpFetcher(),
        dialer: neverDialer,
        httpPort: stub.port,
        tlsPort: 443,
        networkPolicy: PRODUCTION,
        retry: { attempts: 1, delayMs: 0, deadlineMs: 5000 },
      });
      refused(await v.validate(req("http-01", dns("loop.test"))), /127\.0\.0\.1 \(loopback\), ::1 \(loopback\)/);
      refused(await v.validate(req("http-01", ip("127.0.0.1"))), /127\.0\.0\.1 \(loopback\)/);
      assert.equal(stub.requests.length, 0);
    } finally {
      await stub.close();
    }
  });

  it("ok/http-01 to the loopback stub is valid once the server's policy allows 127.0.0.0/8; a per-validation option only narrows it", async () => {
    const stub = await startHttpStub(() => (_req, res) => void res.writeHead(200).end(keyAuthz("tok")));
    try {
      const base: ChallengeValidatorDeps = {
        resolver: new FakeResolver({ "loop.test": { a: ["127.0.0.1"] } }),
        fetcher: createHttpFetcher(),
        dialer: neverDialer,
        httpPort: stub.port,
        tlsPort: 443,
        retry: { attempts: 1, delayMs: 0, deadlineMs: 5000 },
      };
      const loopback = parseNetworkPolicy("127.0.0.0/8");
      assert.deepEqual(await createChallengeValidator({ ...base, networkPolicy: loopback }).validate(req("http-01", dns("loop.test"))), { status: "valid" });
      // a per-directory override narrows the server's policy and never widens it: a tenant
      // admin cannot open loopback (or metadata addresses) the operator closed
      const strict = createChallengeValidator({ ...base, networkPolicy: PRODUCTION });
      refused(await strict.validate(req("http-01", dns("loop.test")), undefined, { networkPolicy: loopback }), /127\.0\.0\.1/);
      refused(await strict.validate(req("http-01", dns("loop.test")), undefined, { networkPolicy: parseNetworkPolicy("0.0.0.0/0,::/0") }), /127\.0\.0\.1/);
      assert.equal(stub.requests.length, 1, "only the allowed validation fetched; the refused ones never connected");
      const lax = createChallengeValidator({ ...base, networkPolicy: loopback });
      refused(await lax.validate(req("http-01", dns("loop.test")), undefined, { networkPolicy: PRODUCTION }), /127\.0\.0\.1/);
      assert.deepEqual(await lax.validate(req("http-01", dns("loop.test")), undefined, { networkPolicy: loopback }), { status: "valid" });
    } finally {
      await stub.close();
    }
  });

  it("fail/a redirect to 169.254.169.254 is refused before anything connects to it", async () => {
    const fetcher = new RecordingFetcher((r) => (r.address === PUBLIC_V4 ? fetched(302, "", "http://169.254.169.254/latest/meta-data/") : fetched(200, "iam-credentials")));
    const v = validator({ "redir.test": { a: [PUBLIC_V4] } }, { fetcher });
    const detail = refused(await v.validate(req("http-01", dns("redir.test"))), /169\.254\.169\.254 \(metadata\)/);
    assert.deepEqual(fetcher.requests.map((r) => r.address), [PUBLIC_V4]);
    assert.doesNotMatch(detail, /iam-credentials/);
  });

  it("fail/a redirect to a name resolving to link-local is refused; to [::ffff:127.0.0.1] too", async () => {
    for (const location of ["http://meta.test/", "http://[::ffff:127.0.0.1]/x", "https://[fd00:ec2::254]/latest"]) {
      const fetcher = new RecordingFetcher(() => fetched(301, "", location));
      const v = validator({ "redir.test": { a: [PUBLIC_V4] }, "meta.test": { a: ["169.254.10.10"] } }, { fetcher });
      refused(await v.validate(req("http-01", dns("redir.test"))), /not allowed/);
      assert.deepEqual(fetcher.requests.map((r) => r.address), [PUBLIC_V4], location);
    }
  });

  it("fail/an IPv4-mapped identifier ::ffff:127.0.0.1 is refused for http-01 and tls-alpn-01", async () => {
    const fetcher = new RecordingFetcher(() => fetched(200, keyAuthz("tok")));
    const dialer = new RecordingDialer(() => Promise.reject(new NetworkError("connection", "must not dial")));
    const v = validator({}, { fetcher, dialer });
    // the URL parser writes the host as ::ffff:7f00:1
    refused(await v.validate(req("http-01", ip("::ffff:127.0.0.1"))), /::ffff:7f00:1 \(loopback\)/);
    refused(await v.validate(req("tls-alpn-01", ip("::ffff:127.0.0.1"))), /::ffff:127\.0\.0\.1 \(loopback\)/);
    assert.equal(fetcher.requests.length, 0);
    assert.equal(dialer.requests.length, 0);
  });

  it("ok/a name with one loopback and one public address: only the public one is ever connected to", async () => {
    const fetcher = new RecordingFetcher((r) => (r.address === PUBLIC_V4 ? fetched(200, keyAuthz("tok")) : fetched(500)));
    const v = validator({ "mixed.test": { a: ["127.0.0.1", PUBLIC_V4], aaaa: ["::1"] } }, { fetcher });
    assert.deepEqual(await v.validate(req("http-01", dns("mixed.test"))), { status: "valid" });
    assert.deepEqual(fetcher.requests.map((r) => r.address), [PUBLIC_V4]);
  });

  it("fail/a name with one loopback and one public address that does not answer: the loopback one is still never tried", async () => {
    const fetcher = new RecordingFetcher(() => Promise.reject(new NetworkError("connection", "refused", "ECONNREFUSED")));
    const v = validator({ "mixed.test": { a: ["127.0.0.1", PUBLIC_V4] } }, { fetcher, retry: { attempts: 1, delayMs: 0, deadlineMs: 1000 } });
    const out = await v.validate(req("http-01", dns("mixed.test")));
    assert.equal(out.status, "invalid");
    assert.deepEqual(fetcher.requests.map((r) => r.address), [PUBLIC_V4]);
  });

  it("ok/more than four refused addresses do not crowd out an allowed one", async () => {
    const fetcher = new RecordingFetcher(() => fetched(200, keyAuthz("tok")));
    const v = validator({ "many.test": { a: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "169.254.169.254", PUBLIC_V4] } }, { fetcher });
    assert.deepEqual(await v.validate(req("http-01", dns("many.test"))), { status: "valid" });
    assert.deepEqual(fetcher.requests.map((r) => r.address), [PUBLIC_V4]);
  });

  it("fail/tls-alpn-01 to a name resolving only to loopback and metadata addresses never dials; not retried", async () => {
    const dialer = new RecordingDialer(() => Promise.reject(new NetworkError("connection", "must not dial")));
    const resolver = new FakeResolver({ "alpn.test": { a: ["127.0.0.1"], aaaa: ["fd00:ec2::254"] } });
    const v = validator({}, { resolver, dialer });
    refused(await v.validate(req("tls-alpn-01", dns("alpn.test"))), /127\.0\.0\.1 \(loopback\), fd00:ec2::254 \(metadata\)/);
    assert.equal(dialer.requests.length, 0);
    // a refusal is final: one A and one AAAA query, no second attempt
    assert.equal(resolver.queries.length, 2);
  });

  it("ok/tls-alpn-01 dials exactly the allowed, checked address (no second lookup of the name)", async () => {
    const dialer = new RecordingDialer(() => Promise.reject(new NetworkError("tls", "handshake", "ERR_SSL_X")));
    const v = validator({ "alpn.test": { a: ["127.0.0.1"], aaaa: [PUBLIC_V6] } }, { dialer });
    await v.validate(req("tls-alpn-01", dns("alpn.test")));
    assert.deepEqual(dialer.requests.map((r) => [r.address, r.servername]), [[PUBLIC_V6, "alpn.test"]]);
  });
});

describe("validation/validator: concurrency caps", () => {
  /** a fetcher whose answers wait until released */
  function gatedFetcher(): RecordingFetcher & { releaseAll(): void } {
    let waiting: Array<() => void> = [];
    const f = new RecordingFetcher(() => new Promise((resolve) => waiting.push(() => resolve(fetched(200, keyAuthz("tok"))))));
    return Object.assign(f, {
      releaseAll() {
        const w = waiting;
        waiting = [];
        for (const r of w) r();
      },
    });
  }
  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));
  async function drain(f: ReturnType<typeof gatedFetcher>, all: Array<Promise<ValidationOutcome>>): Promise<ValidationOutcome[]> {
    let done = false;
    const settled = Promise.all(all).finally(() => (done = true));
    while (!done) {
      await tick();
      f.releaseAll();
    }
    return settled;
  }

  it("ok/one account runs at most maxPerAccount at once; the rest wait and then succeed", async () => {
    const fetcher = gatedFetcher();
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher, limits: { maxConcurrent: 10, maxPerAccount: 2 } });
    const all = Array.from({ length: 6 }, () => v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-a" })));
    await tick();
    assert.equal(fetcher.inFlight, 2);
    const outs = await drain(fetcher, all);
    assert.deepEqual(outs, Array(6).fill({ status: "valid" }));
    assert.equal(fetcher.maxInFlight, 2);
  });

  it("ok/an account at its cap does not hold up another account", async () => {
    const fetcher = gatedFetcher();
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher, limits: { maxConcurrent: 10, maxPerAccount: 1 } });
    const a = [1, 2, 3].map(() => v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-a" })));
    const b = v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-b" }));
    await tick();
    assert.equal(fetcher.inFlight, 2);
    assert.deepEqual(
      fetcher.requests.map((r) => r.url),
      [0, 1].map(() => "http://a.test/.well-known/acme-challenge/tok"),
    );
    await drain(fetcher, [...a, b]);
    assert.equal(fetcher.maxInFlight, 2);
  });

  it("ok/the server-wide cap holds across accounts", async () => {
    const fetcher = gatedFetcher();
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher, limits: { maxConcurrent: 3, maxPerAccount: 8 } });
    const all = Array.from({ length: 9 }, (_, i) => v.validate(req("http-01", dns("a.test"), "tok", { accountId: `acct-${i}` })));
    await tick();
    assert.equal(fetcher.inFlight, 3);
    const outs = await drain(fetcher, all);
    assert.ok(outs.every((o) => o.status === "valid"));
    assert.equal(fetcher.maxInFlight, 3);
  });

  it("fail/a full queue defers at once (the challenge stays processing, never invalid) instead of growing without bound", async () => {
    const fetcher = gatedFetcher();
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher, limits: { maxConcurrent: 1, maxPerAccount: 1, maxQueued: 2 } });
    const running = [1, 2, 3].map((i) => v.validate(req("http-01", dns("a.test"), "tok", { accountId: `acct-${i}` })));
    const over = await v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-4" }));
    assert.equal(over.status, "deferred");
    if (over.status === "deferred") assert.match(over.reason, /too many validations/);
    const outs = await drain(fetcher, running);
    assert.ok(outs.every((o) => o.status === "valid"));
  });

  it("fail/the deadline bounds the whole validation: a chain of slow redirects cannot hold a slot past it", async () => {
    // every hop answers a redirect just before its own per-operation timeout would fire; the fetcher honours the signal
    const slowRedirect = new RecordingFetcher(
      (r) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(() => resolve({ status: 302, location: `http://a.test/.well-known/acme-challenge/tok?hop=${Math.random()}`, body: Buffer.alloc(0), truncated: false }), 150);
          r.signal?.addEventListener("abort", () => {
            clearTimeout(t);
            reject(new NetworkError("aborted", "aborted"));
          });
        }),
    );
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher: slowRedirect, retry: { attempts: 3, delayMs: 0, deadlineMs: 400 } });
    const t0 = Date.now();
    const out = await v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-slow" }));
    const took = Date.now() - t0;
    assert.equal(out.status, "invalid");
    if (out.status === "invalid") assert.match(out.error.detail, /did not finish within/);
    // well under the 3 attempts x 11 hops x 150 ms the chain would take without a whole-validation deadline
    assert.ok(took < 2000, `took ${took} ms`);
  });

  it("fail/one account cannot fill the whole queue (per-account queue bound)", async () => {
    const fetcher = gatedFetcher();
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher, limits: { maxConcurrent: 4, maxPerAccount: 1, maxQueuedPerAccount: 1 } });
    const ok = [v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-a" })), v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-a" }))];
    const third = await v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-a" }));
    assert.equal(third.status, "deferred");
    const other = v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-b" }));
    assert.ok((await drain(fetcher, [...ok, other])).every((o) => o.status === "valid"));
  });

  it("ok/an abort while waiting for a slot ends that validation and frees its queue place", async () => {
    const fetcher = gatedFetcher();
    const v = validator({ "a.test": { a: [PUBLIC_V4] } }, { fetcher, limits: { maxConcurrent: 1, maxPerAccount: 1 } });
    const first = v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-a" }));
    const ac = new AbortController();
    const waiting = v.validate(req("http-01", dns("a.test"), "tok", { accountId: "acct-b" }), ac.signal);
    await tick();
    ac.abort();
    const out = await waiting;
    assert.equal(out.status === "invalid" && out.error.detail, "the validation was cancelled");
    await drain(fetcher, [first]);
    assert.equal(fetcher.requests.length, 1);
  });
});
