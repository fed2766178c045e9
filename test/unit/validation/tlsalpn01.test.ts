import assert from "node:assert/strict";
import type { Identifier } from "../../../src/core/types.js";
import { reverseName } from "../../../src/validation/common.js";
import { createHttpFetcher, createTlsDialer } from "../../../src/validation/network.js";
import { tlsAlpn01Digest } from "../../../src/validation/tlsalpn01.js";
import type { ValidationErrorType } from "../../../src/validation/types.js";
import { createChallengeValidator, type ChallengeValidatorDeps } from "../../../src/validation/validator.js";
import { AlpnCertFactory, FakeResolver, keyAuthz, startGarbageServer, startTlsStub, unusedPort, type AlpnCertOptions, type Closable, type KeyAndCert } from "./stubs.js";

interface Case {
  name: string;
  token: string;
  identifier: Identifier;
  /** the certificate the stub presents for this identifier's SNI name */
  cert: (digest: Buffer) => AlpnCertOptions;
  /** which server the validator dials (default the ALPN-speaking stub) */
  server?: "noAlpn" | "garbage" | "refused";
  expect: "valid" | { type: ValidationErrorType; detail?: RegExp };
  /** the SNI the server must have seen (default the identifier value) */
  sni?: string;
}

const dns = (value: string): Identifier => ({ type: "dns", value });
const ip = (value: string): Identifier => ({ type: "ip", value });
const WRONG = Buffer.alloc(32, 7);

const cases: Case[] = [
  { name: "ok/tls-alpn-01 dns identifier", token: "t-ok", identifier: dns("ok.test"), cert: (d) => ({ san: "DNS:ok.test", digest: d }), expect: "valid" },
  {
    name: "ok/tls-alpn-01 SAN compared case-insensitively",
    token: "t-case",
    identifier: dns("case.test"),
    cert: (d) => ({ san: "DNS:CASE.Test", digest: d }),
    expect: "valid",
  },
  {
    name: "ok/tls-alpn-01 IPv4 identifier: SNI is the in-addr.arpa name, SAN the iPAddress (RFC 8738 §6)",
    token: "t-ip4",
    identifier: ip("127.0.0.1"),
    cert: (d) => ({ san: "IP:127.0.0.1", digest: d }),
    sni: "1.0.0.127.in-addr.arpa",
    expect: "valid",
  },
  {
    name: "ok/tls-alpn-01 IPv6 identifier: SNI is the ip6.arpa name",
    token: "t-ip6",
    identifier: ip("::1"),
    cert: (d) => ({ san: "IP:::1", digest: d }),
    sni: `1.${"0.".repeat(31)}ip6.arpa`,
    expect: "valid",
  },
  {
    name: "fail/tls-alpn-01 wrong digest",
    token: "t-wrong",
    identifier: dns("wrongdigest.test"),
    cert: () => ({ san: "DNS:wrongdigest.test", digest: WRONG }),
    expect: { type: "incorrectResponse", detail: /acmeIdentifier extension value does not match/ },
  },
  {
    name: "fail/tls-alpn-01 digest of another key authorization",
    token: "t-other",
    identifier: dns("otherka.test"),
    cert: () => ({ san: "DNS:otherka.test", digest: tlsAlpn01Digest(keyAuthz("someone-else")) }),
    expect: { type: "incorrectResponse" },
  },
  {
    name: "fail/tls-alpn-01 non-critical acmeIdentifier extension",
    token: "t-noncrit",
    identifier: dns("noncritical.test"),
    cert: (d) => ({ san: "DNS:noncritical.test", digest: d, critical: false }),
    expect: { type: "unauthorized", detail: /not critical/ },
  },
  {
    name: "fail/tls-alpn-01 missing acmeIdentifier extension",
    token: "t-noext",
    identifier: dns("noext.test"),
    cert: () => ({ san: "DNS:noext.test" }),
    expect: { type: "unauthorized", detail: /missing the acmeIdentifier extension/ },
  },
  {
    name: "fail/tls-alpn-01 acmeIdentifier of the wrong length",
    token: "t-short",
    identifier: dns("short.test"),
    cert: () => ({ san: "DNS:short.test", digest: Buffer.alloc(16, 1) }),
    expect: { type: "incorrectResponse" },
  },
  {
    name: "fail/tls-alpn-01 an extra SAN",
    token: "t-extra",
    identifier: dns("extra.test"),
    cert: (d) => ({ san: "DNS:extra.test,DNS:evil.test", digest: d }),
    expect: { type: "unauthorized", detail: /exactly the identifier/ },
  },
  {
    name: "fail/tls-alpn-01 SAN names another domain",
    token: "t-othername",
    identifier: dns("othername.test"),
    cert: (d) => ({ san: "DNS:not-it.test", digest: d }),
    expect: { type: "unauthorized", detail: /not-it\.test/ },
  },
  {
    name: "fail/tls-alpn-01 no SAN at all",
    token: "t-nosan",
    identifier: dns("nosan.test"),
    cert: (d) => ({ digest: d }),
    expect: { type: "unauthorized", detail: /no subjectAltName/ },
  },
  {
    name: "fail/tls-alpn-01 IP identifier with a dNSName SAN",
    token: "t-ipdns",
    identifier: ip("127.0.0.1"),
    cert: (d) => ({ san: "DNS:1.0.0.127.in-addr.arpa", digest: d }),
    sni: "1.0.0.127.in-addr.arpa",
    expect: { type: "unauthorized" },
  },
  {
    name: "fail/tls-alpn-01 server without ALPN",
    token: "t-noalpn",
    identifier: dns("ok.test"),
    cert: (d) => ({ san: "DNS:ok.test", digest: d }),
    server: "noAlpn",
    expect: { type: "tls", detail: /acme-tls\/1.*got none/ },
  },
  {
    name: "fail/tls-alpn-01 server does not speak TLS",
    token: "t-garbage",
    identifier: dns("ok.test"),
    cert: (d) => ({ san: "DNS:ok.test", digest: d }),
    server: "garbage",
    expect: { type: "tls", detail: /TLS handshake failed/ },
  },
  {
    name: "fail/tls-alpn-01 connection refused",
    token: "t-refused",
    identifier: dns("ok.test"),
    cert: (d) => ({ san: "DNS:ok.test", digest: d }),
    server: "refused",
    expect: { type: "connection", detail: /refused/ },
  },
  {
    name: "fail/tls-alpn-01 NXDOMAIN",
    token: "t-nx",
    identifier: dns("nx.test"),
    cert: (d) => ({ san: "DNS:nx.test", digest: d }),
    expect: { type: "dns", detail: /NXDOMAIN/ },
  },
];

const resolver = new FakeResolver(
  Object.fromEntries(
    cases.filter((c) => c.identifier.type === "dns" && c.identifier.value !== "nx.test").map((c) => [c.identifier.value, { a: ["127.0.0.1"], aaaa: ["::1"] }]),
  ),
);

describe("validation/tls-alpn-01 (RFC 8737) against a local TLS server", function () {
  this.timeout(30_000);
  let certs: AlpnCertFactory;
  let alpn: Awaited<ReturnType<typeof startTlsStub>>;
  let noAlpn: Awaited<ReturnType<typeof startTlsStub>>;
  let garbage: { port: number } & Closable;
  let refused: number;
  /** the certificate each case's server presents, by case name */
  const caseCerts = new Map<string, KeyAndCert>();

  before(async () => {
    certs = new AlpnCertFactory();
    for (const c of cases) if (!c.server) caseCerts.set(c.name, certs.make(c.cert(tlsAlpn01Digest(keyAuthz(c.token)))));
    const fallback = certs.make({ san: "DNS:fallback.invalid" });
    alpn = await startTlsStub(new Map(), fallback);
    const okCert = certs.make({ san: "DNS:ok.test", digest: tlsAlpn01Digest(keyAuthz("t-noalpn")) });
    noAlpn = await startTlsStub(new Map([["ok.test", okCert]]), okCert, { alpn: false });
    garbage = await startGarbageServer();
    refused = await unusedPort();
  });
  after(async () => {
    await Promise.all([alpn.close(), noAlpn.close(), garbage.close()]);
    certs.remove();
  });

  for (const c of cases) {
    it(c.name, async () => {
      const tlsPort = c.server === "noAlpn" ? noAlpn.port : c.server === "garbage" ? garbage.port : c.server === "refused" ? refused : alpn.port;
      const deps: ChallengeValidatorDeps = {
        resolver,
        fetcher: createHttpFetcher(),
        dialer: createTlsDialer(),
        httpPort: 1,
        tlsPort,
        retry: { attempts: 1, delayMs: 0, deadlineMs: 10_000 },
        timeoutMs: 5000,
      };
      const kc = caseCerts.get(c.name);
      if (kc) alpn.setCert(c.sni ?? c.identifier.value, kc);
      const seen = alpn.sni.length;
      const out = await createChallengeValidator(deps).validate({ type: "tls-alpn-01", identifier: c.identifier, token: c.token, keyAuthorization: keyAuthz(c.token) });
      if (c.expect === "valid") {
        assert.deepEqual(out, { status: "valid" });
      } else {
        assert.equal(out.status, "invalid", `expected ${c.expect.type}, got valid`);
        if (out.status !== "invalid") return;
        assert.equal(out.error.type, c.expect.type, out.error.detail);
        if (c.expect.detail) assert.match(out.error.detail, c.expect.detail);
      }
      if (!c.server && c.expect !== "valid" && typeof c.expect === "object" && c.expect.type === "dns") return;
      if (!c.server) assert.equal(alpn.sni.at(-1), c.sni ?? c.identifier.value, "SNI sent");
      if (!c.server) assert.equal(alpn.sni.length, seen + 1, "one handshake");
    });
  }

  it("reverse-maps IP addresses for SNI (RFC 8738 §6)", () => {
    assert.equal(reverseName("192.0.2.10"), "10.2.0.192.in-addr.arpa");
    assert.equal(reverseName("2001:db8::567:89ab"), "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert.equal(reverseName("::ffff:192.0.2.1"), "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
  });
});
