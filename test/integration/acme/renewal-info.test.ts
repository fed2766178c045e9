import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { createCsr } from "../../../src/ca/csr.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

/**
 * RFC 9773 ACME Renewal Information (ARI), GET only: the directory names
 * renewalInfo (§3), GET {renewalInfo}/{certID} (§4.1) answers the suggested
 * window (§4.2) with Retry-After (§4.3), unauthenticated.
 */
describe("RFC 9773 ACME renewal information", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let c: RawAcme;

  before(async () => {
    server = await startAcmeTestServer({ validator });
    c = await RawAcme.create(server.directoryUrl());
    await c.register();
  });
  after(async () => server?.stop());

  /** a certificate issued through the raw client: newOrder, challenge, finalize, download */
  async function issue(name: string): Promise<{ pem: string; der: Buffer }> {
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    const authz = await c.post(order.body.authorizations[0], undefined);
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    await c.post(ch.url, {});
    await server.acme.validations.idle();
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const fin = await c.post(order.body.finalize, { csr: createCsr({ privateKey, commonName: name, dnsNames: [name] }).der.toString("base64url") });
    assert.equal(fin.body.status, "valid", fin.text);
    const chain = (await c.post(fin.body.certificate, undefined)).text;
    const pem = chain.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    return { pem, der: Buffer.from(new X509Certificate(pem).raw) };
  }

  /** §4.1 certID: base64url(AKI keyIdentifier) "." base64url(DER serial content octets) */
  function certIdOf(der: Buffer): string {
    const cert = pkijs.Certificate.fromBER(der);
    const ext = cert.extensions!.find((x) => x.extnID === "2.5.29.35")!;
    const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
    const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
    const serial = Buffer.from(cert.serialNumber.valueBlock.valueHexView);
    return `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${serial.toString("base64url")}`;
  }

  const get = (certId: string) => fetch(`${c.dir.renewalInfo}/${certId}`);

  it("RFC 9773 §3: the directory has renewalInfo", () => {
    assert.equal(c.dir.renewalInfo, server.directoryUrl().replace(/\/directory$/, "/renewal-info"));
  });

  it("RFC 9773 §4.2: a valid certificate gets a window inside its validity, with Retry-After (§4.3)", async () => {
    const { der } = await issue("ari.example.com");
    const x = new X509Certificate(der);
    const r = await get(certIdOf(der));
    assert.equal(r.status, 200, await r.clone().text());
    const body = (await r.json()) as { suggestedWindow: { start: string; end: string } };
    const start = new Date(body.suggestedWindow.start);
    const end = new Date(body.suggestedWindow.end);
    assert.ok(start < end);
    assert.ok(start > new Date(x.validFrom) && end < new Date(x.validTo), `${start.toISOString()}..${end.toISOString()} not inside ${x.validFrom}..${x.validTo}`);
    const ra = Number(r.headers.get("retry-after"));
    assert.ok(ra >= 19_440 && ra <= 23_760, `Retry-After ${ra}`);

    // §4.2: revoked, renew immediately: the window is in the past
    const rev = await c.post(c.dir.revokeCert!, { certificate: der.toString("base64url"), reason: 4 });
    assert.equal(rev.status, 200, rev.text);
    const after = await get(certIdOf(der));
    assert.equal(after.status, 200);
    const w = ((await after.json()) as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    assert.ok(new Date(w.end) < new Date() && new Date(w.start) < new Date(w.end), JSON.stringify(w));
  });

  it("RFC 9773 §4.1: a malformed certID is 400 malformed", async () => {
    for (const bad of ["garbage", "a.b.c", ".AQ", "AQ.", "AQ.gQ"]) {
      const r = await get(bad);
      assert.equal(r.status, 400, bad);
      assert.equal(((await r.json()) as { type: string }).type, "urn:ietf:params:acme:error:malformed");
    }
  });

  it("RFC 9773 §4.1: an unknown serial or key identifier is 404", async () => {
    const { der } = await issue("ari-unknown.example.com");
    const [aki] = certIdOf(der).split(".");
    const r = await get(`${aki}.${Buffer.from("4000000000000000000000000000beef", "hex").toString("base64url")}`);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { type: string }).type, "urn:ietf:params:acme:error:malformed");
    const other = await get(`${Buffer.alloc(20, 7).toString("base64url")}.${certIdOf(der).split(".")[1]}`);
    assert.equal(other.status, 404);
  });
});
