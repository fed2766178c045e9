import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { makeClient } from "../../../src/admin/grpc-adapter.js";
import { Health, ServingStatus } from "../../../src/admin/health.js";

// Verify the server name "localhost" (in the server cert) while dialing 127.0.0.1.
const tlsName = { "grpc.ssl_target_name_override": "localhost" };
import { buildAdminGrpcServer, listenAdmin, shutdownAdmin } from "../../../src/admin/server.js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

/** A CA, a server cert for 127.0.0.1/localhost and a client cert, made with the openssl CLI. */
function makePki(dir: string): Record<"ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey", string> {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test CA", "-days", "1",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"],
    ["client", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    run("req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    run("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
  }
  const read = (f: string) => readFileSync(path.join(dir, f), "utf8");
  return {
    ca: read("ca.pem"),
    serverCert: read("server.pem"),
    serverKey: read("server.key"),
    clientCert: read("client.pem"),
    clientKey: read("client.key"),
  };
}

describe("admin gRPC listener TLS", function () {
  let dir: string;
  let pki: ReturnType<typeof makePki>;

  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-admin-tls-"));
    pki = makePki(dir); // throws loudly when openssl is missing
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("serves over TLS", async function () {
    const server = buildAdminGrpcServer({ services: [] });
    const port = await listenAdmin(server, "127.0.0.1", 0, { certPem: pki.serverCert, keyPem: pki.serverKey });
    const client = makeClient(Health, `127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(pki.ca)), tlsName);
    try {
      assert.equal((await client.check({})).status, ServingStatus.SERVING);
    } finally {
      client.close();
      await shutdownAdmin(server, 500);
    }
  });

  it("requires a client certificate when clientCaPem is set", async function () {
    const server = buildAdminGrpcServer({ services: [] });
    const port = await listenAdmin(server, "127.0.0.1", 0, {
      certPem: pki.serverCert,
      keyPem: pki.serverKey,
      clientCaPem: pki.ca,
    });
    const anonymous = makeClient(Health, `127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(pki.ca)), tlsName);
    const withCert = makeClient(
      Health,
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(pki.ca), Buffer.from(pki.clientKey), Buffer.from(pki.clientCert)),
      tlsName,
    );
    try {
      await assert.rejects(anonymous.check({}, { timeoutMs: 3000 }), (err: grpc.ServiceError) => {
        assert.ok([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code), `${err.code} ${err.details}`);
        return true;
      });
      assert.equal((await withCert.check({})).status, ServingStatus.SERVING);
    } finally {
      anonymous.close();
      withCert.close();
      await shutdownAdmin(server, 500);
    }
  });

  it("serves Connect and gRPC-Web over HTTP/1.1 and HTTP/2 on the TLS port, with the client certificate when mTLS is on", async function () {
    const server = buildAdminGrpcServer({ services: [] });
    const port = await listenAdmin(server, "127.0.0.1", 0, { certPem: pki.serverCert, keyPem: pki.serverKey, clientCaPem: pki.ca });
    const baseUrl = `https://localhost:${port}`;
    const withCert = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
    try {
      for (const httpVersion of ["1.1", "2"] as const) {
        for (const make of [createConnectTransport, createGrpcWebTransport]) {
          const health = createClient(Health, make({ baseUrl, httpVersion, nodeOptions: withCert }));
          assert.equal((await health.check({})).status, ServingStatus.SERVING, `${make.name} HTTP/${httpVersion}`);
        }
        const anonymous = createClient(Health, createConnectTransport({ baseUrl, httpVersion, nodeOptions: { ca: pki.ca } }));
        await assert.rejects(anonymous.check({}, { timeoutMs: 3000 }), `HTTP/${httpVersion} without a client certificate`);
      }
      // curl with the client certificate, JSON, as docs/admin-api.md shows
      // (async: the server runs in this process)
      const { stdout: out } = await promisify(execFile)("curl", ["-s", "--cacert", path.join(dir, "ca.pem"), "--cert", path.join(dir, "client.pem"), "--key", path.join(dir, "client.key"),
        "-H", "Content-Type: application/json", "-d", "{}", `${baseUrl}/grpc.health.v1.Health/Check`]);
      assert.deepEqual(JSON.parse(out), { status: "SERVING" });
    } finally {
      await shutdownAdmin(server, 500);
    }
  });
});
