/**
 * The ACME router on a fake AcmeRa port (src/acme/ra-port.ts) and nothing
 * else: no RaContext, no database. Every port operation the test does not
 * expect throws, so the answers below prove what the routes need of the
 * registration authority for the directory, newNonce and newOrder.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair } from "jose";
import Koa from "koa";
import { SigilError } from "../../../src/core/errors.js";
import { canonicalJwk } from "../../../src/core/jwk.js";
import { createLogger } from "../../../src/logger.js";
import { Linker } from "../../../src/acme/linker.js";
import type { AcmeRa, AccountInfo, DirectoryInfo, OrderInfo } from "../../../src/acme/ra-port.js";
import { buildAcmeRouter, type AcmeRouter } from "../../../src/acme/router.js";
import { fakeDirectory } from "./fake-directory.js";
import { isCompilable } from "../../../src/http-dispatch.js";

const DIR: DirectoryInfo = fakeDirectory();
const ACCOUNT_ID = "00000000-0000-7000-8000-00000000a001";
const ORDER_ID = "00000000-0000-7000-8000-00000000f001";
const AUTHZ_ID = "00000000-0000-7000-8000-00000000b001";

/** what the fake port was asked, in order */
let calls: string[];
/** nonces the fake issued and not yet consumed */
let live: Set<string>;
let issued: number;
/** when set, issuing a nonce fails like a database outage */
let noncesDown: boolean;
let account: AccountInfo;
let order: OrderInfo;

type Fake = Pick<AcmeRa, "directories" | "nonces" | "accounts" | "validations" | "newOrder" | "start" | "close">;

/** the operations these routes use; everything else of AcmeRa throws */
function fakePort(): AcmeRa {
  const used: Fake = {
    directories: {
      async get(name) {
        calls.push(`directories.get ${name}`);
        return name === DIR.name ? DIR : null;
      },
    },
    nonces: {
      async issue() {
        if (noncesDown) throw SigilError.unavailable("the database is unavailable");
        const n = `nonce-${String(++issued).padStart(16, "0")}`;
        live.add(n);
        return n;
      },
      async consume(n) {
        calls.push("nonces.consume");
        return live.delete(n);
      },
      async consumeWithAccount(n, directoryId, accountId) {
        calls.push(`nonces.consumeWithAccount ${directoryId} ${accountId}`);
        const nonceOk = live.delete(n);
        return { nonceOk, account: directoryId === account.directoryId && accountId === account.id ? account : null };
      },
    },
    accounts: {
      async findById() {
        calls.push("accounts.findById");
        return null;
      },
    },
    validations: {
      async scheduleAndWait() {
        throw new Error("unexpected: validations.scheduleAndWait");
      },
      async idle() {},
    },
    async newOrder(dir, acct, payload) {
      calls.push(`newOrder ${dir.name} ${acct.id} ${JSON.stringify(payload)}`);
      return order;
    },
    start() {
      calls.push("start");
    },
    async close() {
      calls.push("close");
    },
  };
  return new Proxy(used as AcmeRa, {
    get(target, prop, receiver) {
      if (prop in target) return Reflect.get(target, prop, receiver);
      if (typeof prop === "symbol" || prop === "then") return undefined;
      return () => {
        throw new Error(`unexpected: the router called AcmeRa.${prop}`);
      };
    },
  });
}

describe("ACME router on a fake AcmeRa port", () => {
  let server: http.Server;
  let base: string;
  let linker: Linker;
  let acme: AcmeRouter;
  let key: Awaited<ReturnType<typeof generateKeyPair>>;

  before(async () => {
    key = await generateKeyPair("ES256");
    const jwk = canonicalJwk(createPublicKey({ key: (await exportJWK(key.publicKey)) as JsonWebKey, format: "jwk" }));
    account = {
      id: ACCOUNT_ID,
      directoryId: DIR.id,
      organizationId: DIR.organizationId,
      keyThumbprint: await calculateJwkThumbprint(jwk, "sha256"),
      jwk,
      status: "valid",
      contact: [],
      termsOfServiceAgreed: true,
      eabKeyId: null,
    };
    let handler: http.RequestListener = (_req, res) => res.end();
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    linker = new Linker(base);
    calls = [];
    acme = buildAcmeRouter({ port: fakePort(), linker, logger: createLogger("silent") });
    const app = new Koa();
    app.use(acme.router.routes());
    app.use(acme.router.allowedMethods());
    handler = app.callback();
  });

  after(async () => {
    await acme?.close();
    assert.equal(calls.at(-1), "close", "close() is the port's close");
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    live = new Set();
    issued = 0;
    noncesDown = false;
    order = {
      id: ORDER_ID,
      status: "pending",
      identifiers: [{ type: "dns", value: "www.example.test" }],
      authorizationIds: [AUTHZ_ID],
      notBefore: null,
      notAfter: null,
      expires: new Date("2030-01-02T03:04:05.000Z"),
      error: null,
      certificateId: null,
    };
  });

  async function signedPost(url: string, payload: unknown, nonce: string): Promise<Response> {
    const header = { alg: "ES256", nonce, url, kid: linker.account(DIR.name, ACCOUNT_ID) };
    const jws = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header).sign(key.privateKey);
    return fetch(url, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
  }

  it("starts the port's background work when built", () => {
    assert.deepEqual(calls, ["start"]);
  });

  it("answers the directory from the port's directory lookup, with Replay-Nonce and Link rel=index", async () => {
    calls = [];
    const res = await fetch(linker.directory(DIR.name));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(res.headers.get("replay-nonce"), "nonce-0000000000000001");
    assert.equal(res.headers.get("link"), `<${linker.directory(DIR.name)}>;rel="index"`);
    assert.deepEqual(await res.json(), {
      newNonce: linker.newNonce(DIR.name),
      newAccount: linker.newAccount(DIR.name),
      newOrder: linker.newOrder(DIR.name),
      revokeCert: linker.revokeCert(DIR.name),
      // RFC 9773 §3
      renewalInfo: linker.renewalInfo(DIR.name),
      keyChange: linker.keyChange(DIR.name),
      meta: { externalAccountRequired: false, termsOfService: "https://example.test/tos" },
    });
    assert.deepEqual(calls, [`directories.get ${DIR.name}`]);
  });

  it("answers newNonce HEAD 200 and GET 204, not cached, with a nonce from the port", async () => {
    const head = await fetch(linker.newNonce(DIR.name), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("cache-control"), "no-store");
    assert.equal(head.headers.get("replay-nonce"), "nonce-0000000000000001");
    const get = await fetch(linker.newNonce(DIR.name));
    assert.equal(get.status, 204);
    assert.equal(get.headers.get("replay-nonce"), "nonce-0000000000000002");
  });

  it("answers an unknown directory with a 404 problem without asking the port for a nonce", async () => {
    calls = [];
    const before = issued;
    const res = await fetch(linker.directory("nope"));
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.equal(res.headers.get("replay-nonce"), null);
    assert.deepEqual(calls, ["directories.get nope"]);
    assert.equal(issued, before, "no nonce was issued (nor stored) for it");
  });

  it("answers 503 with Retry-After when the port cannot issue a nonce", async () => {
    noncesDown = true;
    const res = await fetch(linker.newNonce(DIR.name));
    assert.equal(res.status, 503);
    assert.ok(res.headers.get("retry-after"));
    assert.equal(res.headers.get("replay-nonce"), null);
  });

  it("creates an order through the port's newOrder: nonce and account in one port call, 201 with Location", async () => {
    const nonce = (await fetch(linker.newNonce(DIR.name))).headers.get("replay-nonce")!;
    calls = [];
    const payload = { identifiers: [{ type: "dns", value: "www.example.test" }] };
    const res = await signedPost(linker.newOrder(DIR.name), payload, nonce);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(res.headers.get("location"), linker.order(DIR.name, ORDER_ID));
    assert.ok(res.headers.get("replay-nonce"));
    assert.deepEqual(body, {
      status: "pending",
      expires: "2030-01-02T03:04:05.000Z",
      identifiers: [{ type: "dns", value: "www.example.test" }],
      authorizations: [linker.authz(DIR.name, AUTHZ_ID)],
      finalize: linker.finalize(DIR.name, ORDER_ID),
    });
    assert.deepEqual(calls, [
      `directories.get ${DIR.name}`,
      `nonces.consumeWithAccount ${DIR.id} ${ACCOUNT_ID}`,
      `newOrder ${DIR.name} ${ACCOUNT_ID} ${JSON.stringify(payload)}`,
    ]);
  });

  it("refuses a replayed nonce with badNonce before newOrder is asked", async () => {
    const nonce = (await fetch(linker.newNonce(DIR.name))).headers.get("replay-nonce")!;
    assert.equal((await signedPost(linker.newOrder(DIR.name), { identifiers: [] }, nonce)).status, 201);
    calls = [];
    const res = await signedPost(linker.newOrder(DIR.name), { identifiers: [] }, nonce);
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { type: string }).type, "urn:ietf:params:acme:error:badNonce");
    assert.ok(!calls.some((c) => c.startsWith("newOrder")), "newOrder was not called");
  });

  it("turns a port operation it was not given into a generic 500 problem (the router calls nothing else on its own)", async () => {
    // the fake has no getOrder: the router reaches the port for it, and only through the port
    const nonce = (await fetch(linker.newNonce(DIR.name))).headers.get("replay-nonce")!;
    const url = linker.order(DIR.name, ORDER_ID);
    const header = { alg: "ES256", nonce, url, kid: linker.account(DIR.name, ACCOUNT_ID) };
    const jws = await new FlattenedSign(new Uint8Array()).setProtectedHeader(header).sign(key.privateKey);
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { type: string }).type, "urn:ietf:params:acme:error:serverInternal");
  });

  it("has the shape src/http-dispatch.ts compiles (the HTTP app dispatches it without @koa/router's per-request matching)", () => {
    assert.equal(isCompilable(acme.router), true);
  });

  it("exposes the port's nonce store, validations and directory lookup", () => {
    assert.equal(typeof acme.nonces.issue, "function");
    assert.equal(typeof acme.validations.idle, "function");
    assert.equal(typeof acme.directories.get, "function");
    assert.equal(acme.linker, linker);
  });
});
