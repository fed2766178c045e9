import assert from "node:assert/strict";
import type http from "node:http";
import type { Identifier } from "../../../src/core/types.js";
import { http01Url, MAX_REDIRECTS } from "../../../src/validation/http01.js";
import { createHttpFetcher, createTlsDialer } from "../../../src/validation/network.js";
import type { ValidationErrorType } from "../../../src/validation/types.js";
import { createChallengeValidator, type ChallengeValidatorDeps } from "../../../src/validation/validator.js";
import {
  AlpnCertFactory,
  FakeResolver,
  keyAuthz,
  startGarbageServer,
  startHttpsStub,
  startHttpStub,
  startSilentServer,
  unusedPort,
  type Closable,
  type HttpHandler,
} from "./stubs.js";

const WK = "/.well-known/acme-challenge/";

/** path -> handler; every case registers the paths it serves */
const routes = new Map<string, HttpHandler>();
const route = (req: http.IncomingMessage): HttpHandler | undefined => routes.get(req.url ?? "");

const text = (status: number, body: string): HttpHandler => (_req, res) => void res.writeHead(status, { "content-type": "text/plain" }).end(body);
const redirect = (status: number, location: string): HttpHandler => (_req, res) => void res.writeHead(status, { location }).end();

interface Case {
  name: string;
  token: string;
  identifier?: Identifier;
  /** handlers by path, registered before the case runs */
  serve?: (ports: Ports) => Record<string, HttpHandler>;
  deps?: (ports: Ports) => Partial<ChallengeValidatorDeps>;
  expect: "valid" | { type: ValidationErrorType; detail?: RegExp };
  /** extra assertions after the run */
  after?: (ctx: { hosts: Array<string | undefined>; detail: string }) => void;
}

interface Ports {
  http: number;
  https: number;
}

const zone = new FakeResolver({
  "example.test": { a: ["127.0.0.1"] },
  "other.test": { a: ["127.0.0.1"] },
  "v6only.test": { aaaa: ["::1"] },
  // 127.0.0.3 is loopback but nothing listens there: connection refused, then ::1 answers
  "fallback.test": { a: ["127.0.0.3"], aaaa: ["::1"] },
  "servfail.test": { a: "ESERVFAIL", aaaa: "ESERVFAIL" },
});

const dns = (value: string): Identifier => ({ type: "dns", value });
const ip = (value: string): Identifier => ({ type: "ip", value });

const cases: Case[] = [
  {
    name: "ok/http-01 plain",
    token: "plain",
    serve: () => ({ [`${WK}plain`]: text(200, keyAuthz("plain")) }),
    expect: "valid",
    after: ({ hosts }) => assert.match(hosts.at(-1) ?? "", /^example\.test:\d+$/),
  },
  {
    name: "ok/http-01 trailing whitespace ignored (RFC 8555 §8.3)",
    token: "trailing",
    serve: () => ({ [`${WK}trailing`]: text(200, `${keyAuthz("trailing")}\r\n \t\n`) }),
    expect: "valid",
  },
  {
    name: "ok/http-01 IPv4 identifier, connects to the address itself (RFC 8738 §3)",
    token: "ipv4",
    identifier: ip("127.0.0.1"),
    serve: () => ({ [`${WK}ipv4`]: text(200, keyAuthz("ipv4")) }),
    expect: "valid",
    after: ({ hosts }) => assert.match(hosts.at(-1) ?? "", /^127\.0\.0\.1:\d+$/),
  },
  {
    name: "ok/http-01 IPv6 identifier, bracketed in the URL and Host",
    token: "ipv6",
    identifier: ip("::1"),
    serve: () => ({ [`${WK}ipv6`]: text(200, keyAuthz("ipv6")) }),
    expect: "valid",
    after: ({ hosts }) => assert.match(hosts.at(-1) ?? "", /^\[::1\]:\d+$/),
  },
  {
    name: "ok/http-01 name with only AAAA records",
    token: "v6only",
    identifier: dns("v6only.test"),
    serve: () => ({ [`${WK}v6only`]: text(200, keyAuthz("v6only")) }),
    expect: "valid",
  },
  {
    name: "ok/http-01 first address refuses, the next one answers",
    token: "fallback",
    identifier: dns("fallback.test"),
    serve: () => ({ [`${WK}fallback`]: text(200, keyAuthz("fallback")) }),
    expect: "valid",
  },
  {
    name: "ok/http-01 redirect chain (relative, absolute to another name, 302/307/308)",
    token: "chain",
    serve: ({ http: p }) => ({
      [`${WK}chain`]: redirect(302, "/hop1"),
      "/hop1": redirect(307, `http://other.test:${p}/hop2`),
      "/hop2": redirect(308, "http://other.test/hop3"), // port 80 maps to the validation port
      "/hop3": text(200, keyAuthz("chain")),
    }),
    expect: "valid",
    after: ({ hosts }) => assert.deepEqual(hosts.slice(-4).map((h) => h?.replace(/:\d+$/, "")), ["example.test", "example.test", "other.test", "other.test"]),
  },
  {
    name: "ok/http-01 redirect to https on the TLS port (certificate not verified)",
    token: "tohttps",
    serve: () => ({
      [`${WK}tohttps`]: redirect(301, "https://other.test/secure"),
      "/secure": text(200, keyAuthz("tohttps")),
    }),
    expect: "valid",
  },
  {
    name: "fail/http-01 404",
    token: "missing",
    expect: { type: "unauthorized", detail: /status 404/ },
  },
  {
    name: "fail/http-01 500",
    token: "err500",
    serve: () => ({ [`${WK}err500`]: text(500, "boom") }),
    expect: { type: "unauthorized", detail: /status 500/ },
  },
  {
    name: "fail/http-01 wrong content: says what was expected and how many bytes came, never quotes the body",
    token: "wrong",
    serve: () => ({ [`${WK}wrong`]: text(200, "wrong.key-authorization") }),
    expect: { type: "incorrectResponse", detail: /did not match.*expected "wrong\.[^"]+" \(49 bytes\), got 23 bytes/ },
    after: ({ detail }) => assert.ok(!detail.includes("key-authorization"), detail),
  },
  {
    name: "fail/http-01 oversized body: the size, not the body",
    token: "huge",
    serve: () => ({ [`${WK}huge`]: text(200, `secret-internal-page ${"x".repeat(20_000)}`) }),
    expect: { type: "incorrectResponse", detail: /got more than 8192 bytes/ },
    after: ({ detail }) => assert.ok(!detail.includes("secret-internal-page"), detail),
  },
  {
    name: "fail/http-01 key authorization of another token",
    token: "other",
    serve: () => ({ [`${WK}other`]: text(200, keyAuthz("someone-else")) }),
    expect: { type: "incorrectResponse" },
  },
  {
    name: "fail/http-01 huge body is cut, not echoed",
    token: "huge",
    serve: () => ({
      [`${WK}huge`]: (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        const chunk = "A".repeat(64 * 1024);
        let sent = 0;
        const pump = (): void => {
          while (sent < 8 * 1024 * 1024 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        res.on("error", () => undefined);
        pump();
      },
    }),
    expect: { type: "incorrectResponse" },
    after: ({ detail }) => {
      assert.ok(detail.length < 300, `detail too long (${detail.length})`);
      assert.ok(!detail.includes("A".repeat(70)), "detail echoes more than 64 body characters");
    },
  },
  {
    name: "fail/http-01 body is the key authorization followed by more than the read limit",
    token: "prefix",
    serve: () => ({ [`${WK}prefix`]: text(200, keyAuthz("prefix") + " ".repeat(9000) + "x") }),
    expect: { type: "incorrectResponse" },
  },
  {
    name: "fail/http-01 redirect loop",
    token: "loop",
    serve: () => ({ [`${WK}loop`]: redirect(302, "/loop-a"), "/loop-a": redirect(302, "/loop-b"), "/loop-b": redirect(302, "/loop-a") }),
    expect: { type: "connection", detail: /Redirect loop/ },
  },
  {
    name: "fail/http-01 too many redirects",
    token: "many",
    serve: () => {
      const r: Record<string, HttpHandler> = { [`${WK}many`]: redirect(302, "/many/0") };
      for (let i = 0; i <= MAX_REDIRECTS + 1; i++) r[`/many/${i}`] = redirect(302, `/many/${i + 1}`);
      return r;
    },
    expect: { type: "connection", detail: /Too many redirects/ },
  },
  {
    name: "fail/http-01 redirect to a port that is not followed",
    token: "badport",
    serve: () => ({ [`${WK}badport`]: redirect(302, "http://other.test:8081/x") }),
    expect: { type: "connection", detail: /port 8081/ },
  },
  {
    name: "fail/http-01 redirect to a non-http scheme",
    token: "ftp",
    serve: () => ({ [`${WK}ftp`]: redirect(302, "ftp://other.test/x") }),
    expect: { type: "connection", detail: /scheme/ },
  },
  {
    name: "fail/http-01 redirect without Location",
    token: "noloc",
    serve: () => ({ [`${WK}noloc`]: (_req, res) => void res.writeHead(302).end() }),
    expect: { type: "connection", detail: /Location/ },
  },
  {
    name: "fail/http-01 redirect to a name that does not resolve",
    token: "tonx",
    serve: () => ({ [`${WK}tonx`]: redirect(302, "http://nx.test/x") }),
    expect: { type: "dns", detail: /NXDOMAIN.*nx\.test/ },
  },
  {
    name: "fail/http-01 NXDOMAIN",
    token: "nx",
    identifier: dns("nx.test"),
    expect: { type: "dns", detail: /NXDOMAIN looking up A for nx\.test/ },
  },
  {
    name: "fail/http-01 SERVFAIL",
    token: "servfail",
    identifier: dns("servfail.test"),
    expect: { type: "dns", detail: /SERVFAIL/ },
  },
  {
    name: "fail/http-01 connection refused",
    token: "refused",
    deps: () => ({ httpPort: refusedPort }),
    expect: { type: "connection", detail: /refused/ },
  },
  {
    name: "fail/http-01 timeout",
    token: "timeout",
    deps: () => ({ httpPort: silent.port, timeoutMs: 300 }),
    expect: { type: "connection", detail: /timeout/ },
  },
  {
    name: "fail/http-01 redirect to https where no TLS is spoken",
    token: "badtls",
    serve: () => ({ [`${WK}badtls`]: redirect(302, "https://other.test/x") }),
    deps: () => ({ tlsPort: garbage.port }),
    expect: { type: "tls", detail: /TLS/ },
  },
];

let httpStub: Awaited<ReturnType<typeof startHttpStub>>;
let httpsStub: { port: number } & Closable;
let garbage: { port: number } & Closable;
let silent: { port: number } & Closable;
let refusedPort: number;
let certs: AlpnCertFactory;

describe("validation/http-01 (RFC 8555 §8.3) against local stub servers", function () {
  this.timeout(20_000);

  before(async () => {
    certs = new AlpnCertFactory();
    httpStub = await startHttpStub(route);
    httpsStub = await startHttpsStub(certs.make({ san: "DNS:other.test" }), route);
    garbage = await startGarbageServer();
    silent = await startSilentServer();
    refusedPort = await unusedPort();
  });
  after(async () => {
    await Promise.all([httpStub.close(), httpsStub.close(), garbage.close(), silent.close()]);
    certs.remove();
  });

  for (const c of cases) {
    it(c.name, async () => {
      const ports: Ports = { http: httpStub.port, https: httpsStub.port };
      routes.clear();
      for (const [p, h] of Object.entries(c.serve?.(ports) ?? {})) routes.set(p, h);
      const v = createChallengeValidator({
        resolver: zone,
        fetcher: createHttpFetcher(),
        dialer: createTlsDialer(),
        httpPort: ports.http,
        tlsPort: ports.https,
        retry: { attempts: 1, delayMs: 0, deadlineMs: 10_000 },
        timeoutMs: 5000,
        ...c.deps?.(ports),
      });
      const before = httpStub.requests.length;
      const out = await v.validate({ type: "http-01", identifier: c.identifier ?? dns("example.test"), token: c.token, keyAuthorization: keyAuthz(c.token) });
      if (c.expect === "valid") {
        assert.deepEqual(out, { status: "valid" });
      } else {
        assert.equal(out.status, "invalid", `expected ${c.expect.type}, got valid`);
        if (out.status !== "invalid") return;
        assert.equal(out.error.type, c.expect.type, out.error.detail);
        if (c.expect.detail) assert.match(out.error.detail, c.expect.detail);
      }
      c.after?.({ hosts: httpStub.requests.slice(before).map((r) => r.host), detail: out.status === "invalid" ? out.error.detail : "" });
    });
  }

  it("builds the URL with the port only when it is not 80, IPv6 bracketed", () => {
    assert.equal(http01Url("example.com", "tok", 80), "http://example.com/.well-known/acme-challenge/tok");
    assert.equal(http01Url("example.com", "tok", 5002), "http://example.com:5002/.well-known/acme-challenge/tok");
    assert.equal(http01Url("2001:db8::1", "tok", 80), "http://[2001:db8::1]/.well-known/acme-challenge/tok");
  });
});
