import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { Client, ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { createCsr } from "../../../src/ca/csr.js";
import { RenewalCampaignScope, RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { createOrg, createUser, PASSWORD, rejectsWith } from "../admin/helpers.js";
import { createIntermediate, createRoot, PkiClients } from "../admin/pki-helpers.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

/**
 * Operator renewal campaigns through the real server: a campaign for a CA
 * moves the RFC 9773 §4.2 renewalInfo of its certificates to now (with the
 * explanationURL), clients that renew (with §5 `replaces`, or a new order
 * for the same names from the same account) are counted, and the campaign
 * reports 100 %; a drill samples a directory; cancel restores the windows;
 * org scoping and input checks.
 */
describe("renewal campaigns (RFC 9773 renewalInfo driven by the operator)", function () {
  this.timeout(180_000);
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let pki: PkiClients;
  let renewal: Client<typeof RenewalService>;
  let su: ClientCallOptions;
  let orgId: string;
  let caId: string;
  let rootId: string;
  let directoryId: string;
  let a: RawAcme;
  let b: RawAcme;

  before(async () => {
    server = await startAcmeTestServer({ validator });
    pki = new PkiClients(server);
    renewal = pki.client(RenewalService);
    su = await pki.superuser();
    orgId = await createOrg(pki, su);
    const root = await createRoot(pki, su, orgId, { pathLength: 1 });
    const int = await createIntermediate(pki, su, root.id);
    caId = int.id;
    rootId = root.id;
    directoryId = (await createDirectory(server.ra, systemActor("test"), { name: "campaign", ca: caId })).id;
    a = await RawAcme.create(server.directoryUrl("campaign"));
    await a.register();
    b = await RawAcme.create(server.directoryUrl("campaign"));
    await b.register();
  });
  after(async () => {
    pki?.close();
    await server?.stop();
  });

  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  /** newOrder (optionally replacing), http-01, finalize, download: the leaf DER */
  async function issue(client: RawAcme, names: string[], replaces?: string): Promise<Buffer> {
    const order = await client.post(client.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })), ...(replaces ? { replaces } : {}) });
    assert.equal(order.status, 201, order.text);
    if (replaces) assert.equal(order.body.replaces, replaces);
    for (const authzUrl of order.body.authorizations as string[]) {
      const authz = await client.post(authzUrl, undefined);
      if (authz.body.status === "valid") continue;
      await client.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    }
    await server.acme.validations.idle();
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const fin = await client.post(order.body.finalize, { csr: createCsr({ privateKey, commonName: names[0]!, dnsNames: names }).der.toString("base64url") });
    assert.equal(fin.body.status, "valid", fin.text);
    const pem = (await client.post(fin.body.certificate, undefined)).text.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    return Buffer.from(new X509Certificate(pem).raw);
  }

  function certIdOf(der: Buffer): string {
    const cert = pkijs.Certificate.fromBER(der);
    const ext = cert.extensions!.find((x) => x.extnID === "2.5.29.35")!;
    const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
    const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
    return `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString("base64url")}`;
  }
  const serialOf = (der: Buffer) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, "");

  async function ari(der: Buffer): Promise<{ start: Date; end: Date; explanationURL?: string; retryAfter: number; cacheControl: string | null }> {
    const r = await fetch(`${a.dir.renewalInfo}/${certIdOf(der)}`);
    assert.equal(r.status, 200, await r.clone().text());
    assert.ok(r.headers.get("replay-nonce"));
    const body = (await r.json()) as { suggestedWindow: { start: string; end: string }; explanationURL?: string };
    return {
      start: new Date(body.suggestedWindow.start),
      end: new Date(body.suggestedWindow.end),
      explanationURL: body.explanationURL,
      retryAfter: Number(r.headers.get("retry-after")),
      cacheControl: r.headers.get("cache-control"),
    };
  }

  it("a CA campaign moves renewalInfo to now; renewals with replaces (and by the same account for the same names) reach 100 %", async () => {
    const x1 = await issue(a, ["one.campaign.example"]);
    const x2 = await issue(a, ["two.campaign.example", "www.two.campaign.example"]);
    const y1 = await issue(b, ["three.campaign.example"]);
    const before = await ari(x1);
    assert.ok(before.start > new Date(), "before the campaign the window is the certificate's own, in the future");
    assert.equal(before.explanationURL, undefined);
    assert.ok(before.cacheControl?.includes(`max-age=${Math.min(before.retryAfter, 300)}`), `cacheable at most 5 minutes: ${before.cacheControl}`);

    const created = (
      await renewal.createRenewalCampaign(
        { scope: RenewalCampaignScope.CA, caId, now: true, reason: "intermediate key rotation", explanationUrl: "https://status.example.com/rotation" },
        su,
      )
    ).campaign!;
    assert.equal(created.certificateCount, 3);
    assert.equal(created.replacedCount, 0);
    assert.equal(created.organizationId, orgId);

    const t = Date.now();
    for (const der of [x1, x2, y1]) {
      const w = await ari(der);
      // §4.2: a window at once (clients renew when it has begun)
      assert.ok(w.start.getTime() <= t + 1000 && w.end.getTime() <= t + 120_000, `${w.start.toISOString()}..${w.end.toISOString()}`);
      assert.equal(w.explanationURL, "https://status.example.com/rotation");
    }
    const [audit] = await sql<{ detail: { reason: string; members: number; scope: string } }>(
      `select detail from audit_log where action = 'renewal_campaign_create' and resource_id = ?`,
      [created.id],
    );
    assert.equal(audit!.detail.reason, "intermediate key rotation");
    assert.equal(audit!.detail.members, 3);

    await issue(a, ["one.campaign.example"], certIdOf(x1));
    let got = (await renewal.getRenewalCampaign({ id: created.id }, su)).campaign!;
    assert.equal(got.replacedCount, 1);
    // a new certificate for the same names from the same account counts without replaces
    await issue(a, ["www.two.campaign.example", "two.campaign.example"]);
    got = (await renewal.getRenewalCampaign({ id: created.id }, su)).campaign!;
    assert.equal(got.replacedCount, 2);
    await issue(b, ["three.campaign.example"], certIdOf(y1));
    got = (await renewal.getRenewalCampaign({ id: created.id }, su)).campaign!;
    assert.equal(got.replacedCount, 3);
    assert.equal(got.replacedPercent, 100);

    const listed = (await renewal.listRenewalCampaigns({ organizationId: orgId }, su)).campaigns;
    assert.ok(listed.some((c) => c.id === created.id && c.replacedCount === 3));

    // cancelled: renewalInfo answers the certificates' own windows again
    const cancelled = (await renewal.cancelRenewalCampaign({ id: created.id }, su)).campaign!;
    assert.ok(cancelled.cancelledAt);
    const afterCancel = await ari(x1);
    assert.ok(afterCancel.start > new Date() && afterCancel.explanationURL === undefined);
    await rejectsWith(renewal.cancelRenewalCampaign({ id: created.id }, su), "FAILED_PRECONDITION");
    assert.ok(!(await renewal.listRenewalCampaigns({ organizationId: orgId }, su)).campaigns.some((c) => c.id === created.id), "cancelled ones are listed only on request");
    assert.ok((await renewal.listRenewalCampaigns({ organizationId: orgId, includeCancelled: true }, su)).campaigns.some((c) => c.id === created.id));
  });

  it("a later campaign window does not delay an earlier one; the earliest of several answers", async () => {
    const der = await issue(a, ["windows.campaign.example"]);
    const own = await ari(der);
    const [row] = await sql<{ id: string }>(`select id from certificates where serial = ?`, [serialOf(der)]);
    const late = new Date(own.end.getTime() + 86_400_000);
    await renewal.createRenewalCampaign(
      { scope: RenewalCampaignScope.CERTIFICATE, certificateId: row!.id, windowStart: timestampFromDate(late), windowEnd: timestampFromDate(new Date(late.getTime() + 3_600_000)), reason: "later" },
      su,
    );
    assert.deepEqual((await ari(der)).start, own.start, "a campaign after the certificate's own window changes nothing");
    const soon = new Date(Date.now() + 3_600_000);
    const soonEnd = new Date(soon.getTime() + 3_600_000);
    await renewal.createRenewalCampaign(
      { scope: RenewalCampaignScope.SERIALS, serials: [new X509Certificate(der).serialNumber], organizationId: orgId, windowStart: timestampFromDate(soon), windowEnd: timestampFromDate(soonEnd), reason: "sooner", explanationUrl: "https://status.example.com/soon" },
      su,
    );
    const w = await ari(der);
    assert.ok(Math.abs(w.start.getTime() - soon.getTime()) < 1000, `${w.start.toISOString()} is the sooner campaign's start`);
    assert.ok(Math.abs(w.end.getTime() - soonEnd.getTime()) < 1000);
    assert.equal(w.explanationURL, "https://status.example.com/soon");
  });

  it("a drill samples a percentage of the directory's valid certificates and reports the replacement rate", async () => {
    const drillDir = (await createDirectory(server.ra, systemActor("test"), { name: "drill", ca: caId })).id;
    const d = await RawAcme.create(server.directoryUrl("drill"));
    await d.register();
    for (let i = 0; i < 6; i++) await issue(d, [`d${i}.drill.example`]);
    const drill = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.DRILL, directoryId: drillDir, drillPercent: 50, now: true, reason: "quarterly drill" }, su)).campaign!;
    assert.equal(drill.certificateCount, 3, "ceil(50 % of 6)");
    assert.equal(drill.drillPercent, 50);
    const members = await sql<{ certificate_pem: string; dns_names: string[] }>(
      `select c.certificate_pem, c.dns_names from renewal_campaign_certificates m join certificates c on c.id = m.certificate_id where m.campaign_id = ?`,
      [drill.id],
    );
    assert.equal(members.length, 3);
    // members answer the drill's window, the others keep their own
    const now = Date.now();
    for (const m of members) assert.ok((await ari(Buffer.from(new X509Certificate(m.certificate_pem).raw))).start.getTime() <= now + 1000);
    // one member's client renews with replaces: 1 of 3
    const m = members[0]!;
    await issue(d, m.dns_names, certIdOf(Buffer.from(new X509Certificate(m.certificate_pem).raw)));
    const got = (await renewal.getRenewalCampaign({ id: drill.id }, su)).campaign!;
    assert.equal(got.replacedCount, 1);
    assert.ok(Math.abs(got.replacedPercent - 100 / 3) < 1e-9, String(got.replacedPercent));
    // the scope stays the directory's: the other directory's certificates are not sampled
    const foreign = await sql<{ n: number }>(
      `select count(*)::int n from renewal_campaign_certificates m join certificates c on c.id = m.certificate_id join acme_accounts a on a.id = c.acme_account_id
        where m.campaign_id = ? and a.directory_id <> ?`,
      [drill.id, drillDir],
    );
    assert.equal(foreign[0]!.n, 0);
  });

  it("org scoping and permissions: another organization's admin sees nothing, a plain user may read but not create", async () => {
    const otherOrg = await createOrg(pki, su);
    const otherAdmin = await createUser(pki, su, { organizationId: otherOrg, role: Role.ADMIN });
    const oa = await pki.login(otherAdmin.username, PASSWORD);
    await rejectsWith(renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId, now: true, reason: "not mine" }, oa), "NOT_FOUND");
    const c = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.DIRECTORY, directoryId, now: true, reason: "scoped" }, su)).campaign!;
    await rejectsWith(renewal.getRenewalCampaign({ id: c.id }, oa), "NOT_FOUND");
    assert.ok(!(await renewal.listRenewalCampaigns({}, oa)).campaigns.some((x) => x.id === c.id));
    // review 2 LOW: another organization's target or campaign and a missing one answer the same message (no oracle)
    const message = async (p: Promise<unknown>) => p.then(() => assert.fail("expected a rejection"), (e: Error) => e.message);
    const missing = "00000000-0000-4000-8000-000000000000";
    assert.equal(
      await message(renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId, now: true, reason: "not mine" }, oa)),
      await message(renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId: missing, now: true, reason: "missing" }, oa)),
    );
    assert.equal(await message(renewal.getRenewalCampaign({ id: c.id }, oa)), await message(renewal.getRenewalCampaign({ id: missing }, oa)));
    // serials are looked up among the caller's organization's CAs only
    const [{ serial }] = (await sql<{ serial: string }>(`select serial from certificates where issuer_id = ? limit 1`, [caId])) as [{ serial: string }];
    const foreign = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.SERIALS, serials: [serial], now: true, reason: "other org" }, oa)).campaign!;
    assert.equal(foreign.certificateCount, 0);
    const user = await createUser(pki, su, { organizationId: orgId, role: Role.USER, flags: { createCert: true, revokeCert: true } });
    const uo = await pki.login(user.username, PASSWORD);
    await rejectsWith(renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId, now: true, reason: "user" }, uo), "PERMISSION_DENIED");
    assert.equal((await renewal.getRenewalCampaign({ id: c.id }, uo)).campaign!.id, c.id);
    await rejectsWith(renewal.cancelRenewalCampaign({ id: c.id }, uo), "PERMISSION_DENIED");
  });

  it("members are leaf certificates only: a CA campaign on the root takes neither the intermediate nor OCSP signers (review 2 LOW)", async () => {
    const issued = await sql<{ type: string; serial: string }>(`select type, serial from certificates where issuer_id = ? and status = 'valid'`, [rootId]);
    assert.ok(issued.some((r) => r.type === "ca"), "the root issued the intermediate");
    const c = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId: rootId, now: true, reason: "root rotation" }, su)).campaign!;
    assert.equal(c.certificateCount, 0);
    const bySerial = (
      await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.SERIALS, serials: issued.map((r) => r.serial), organizationId: orgId, now: true, reason: "serials" }, su)
    ).campaign!;
    assert.equal(bySerial.certificateCount, 0);
    const [n] = await sql<{ n: number }>(
      `select count(*)::int n from renewal_campaign_certificates m join certificates c on c.id = m.certificate_id where c.type in ('ca', 'ocsp')`,
    );
    assert.equal(n!.n, 0, "no CA or OCSP certificate is a member of any campaign");
    for (const id of [c.id, bySerial.id]) await renewal.cancelRenewalCampaign({ id }, su);
  });

  it("refuses bad input with INVALID_ARGUMENT or NOT_FOUND and writes nothing", async () => {
    const [{ n: before }] = (await sql<{ n: number }>(`select count(*)::int n from renewal_campaigns`)) as [{ n: number }];
    const now = Date.now();
    const bad: Array<[Record<string, unknown>, "INVALID_ARGUMENT" | "NOT_FOUND"]> = [
      [{ scope: RenewalCampaignScope.UNSPECIFIED, now: true, reason: "r" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, now: true, reason: "" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, reason: "no window" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, now: true, windowEnd: timestampFromDate(new Date(now + 3_600_000)), reason: "both" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, windowStart: timestampFromDate(new Date(now + 7_200_000)), windowEnd: timestampFromDate(new Date(now + 3_600_000)), reason: "end before start" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, windowStart: timestampFromDate(new Date(now - 7_200_000)), windowEnd: timestampFromDate(new Date(now - 3_600_000)), reason: "past" }, "INVALID_ARGUMENT"],
      // review 2 M2: a window is bounded at creation (90 days after its start, starting within 90 days)
      [{ scope: RenewalCampaignScope.CA, caId, windowEnd: timestampFromDate(new Date(now + 91 * 86_400_000)), reason: "too long" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, windowStart: timestampFromDate(new Date(now + 100 * 86_400_000)), windowEnd: timestampFromDate(new Date(now + 101 * 86_400_000)), reason: "too far" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, now: true, reason: "r", explanationUrl: "ftp://x.example/" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, now: true, reason: "r", explanationUrl: "not a url" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.DRILL, directoryId, now: true, reason: "r", drillPercent: 0 }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.DRILL, directoryId, now: true, reason: "r", drillPercent: 101 }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId, now: true, reason: "r", drillPercent: 10 }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.SERIALS, serials: [], now: true, reason: "r" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.SERIALS, serials: ["xyz"], now: true, reason: "r" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId: "not-an-id", now: true, reason: "r" }, "INVALID_ARGUMENT"],
      [{ scope: RenewalCampaignScope.CA, caId: "00000000-0000-4000-8000-000000000000", now: true, reason: "r" }, "NOT_FOUND"],
      [{ scope: RenewalCampaignScope.CERTIFICATE, certificateId: "00000000-0000-4000-8000-000000000000", now: true, reason: "r" }, "NOT_FOUND"],
    ];
    for (const [req, code] of bad) await rejectsWith(renewal.createRenewalCampaign(req, su), code);
    await rejectsWith(renewal.getRenewalCampaign({ id: "00000000-0000-4000-8000-000000000000" }, su), "NOT_FOUND");
    await rejectsWith(renewal.getRenewalCampaign({ id: "nope" }, su), "INVALID_ARGUMENT");
    const [{ n: after }] = (await sql<{ n: number }>(`select count(*)::int n from renewal_campaigns`)) as [{ n: number }];
    assert.equal(after, before);
  });
});
