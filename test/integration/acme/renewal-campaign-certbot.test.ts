/**
 * A renewal campaign with a real client that predates ARI: Debian's
 * certbot 2.1 (no renewalInfo, no `replaces`; lego 4.9.1 is the same). The
 * campaign still counts its renewal, a new certificate for the same names
 * from the same account, and reports 100 %. Real http-01 validation
 * (certbot standalone), pebble-challtestsrv as DNS. A missing certbot or
 * pebble-challtestsrv fails the suite.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { RenewalCampaignScope, RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { freePort, startTestServer, type TestServer } from "../../helpers/server.js";
import { Certbot } from "../../interop/helpers/certbot.js";
import { startChallTestSrv, type ChallTestSrv } from "../../interop/helpers/challtestsrv.js";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { normalizeSerial, serialOf } from "../../interop/helpers/openssl.js";
import { requireTool } from "../../interop/helpers/tools.js";
import { AdminClients } from "../admin/helpers.js";

describe("renewal campaign with certbot 2.1 (no ARI): its renewal is counted", function () {
  this.timeout(240_000);
  let cts: ChallTestSrv;
  let server: TestServer;
  let http01Port: number;
  let certbot: Certbot;
  let admin: AdminClients;

  before(async () => {
    requireTool("certbot", "install the Debian package certbot");
    cts = await startChallTestSrv();
    http01Port = await freePort();
    server = await startTestServer({ env: { SIGIL_DNS_SERVERS: cts.dnsServer, SIGIL_VALIDATION_HTTP_PORT: String(http01Port) } });
    certbot = new Certbot({ server: `${server.baseUrl}/acme/default/directory` });
    admin = new AdminClients(server);
  });
  after(async () => {
    certbot?.cleanup();
    admin?.close();
    await server?.stop();
    await cts?.stop();
  });

  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);
  const standalone = (names: string[]) => [
    "--standalone",
    "--preferred-challenges", "http",
    "--http-01-port", String(http01Port),
    "--http-01-address", "127.0.0.1",
    "--agree-tos", "-m", "test@example.org",
    ...names.flatMap((n) => ["-d", n]),
  ];

  /** RFC 9773 §4.1 certID of a certificate */
  function certIdOf(der: Buffer): string {
    const cert = pkijs.Certificate.fromBER(der);
    const ext = cert.extensions!.find((e) => e.extnID === "2.5.29.35")!;
    const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
    const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
    return `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString("base64url")}`;
  }

  it("a directory campaign moves ARI to now; certbot renew --force-renewal (no replaces) is counted: 100 %", async () => {
    const help = await certbot.run("--help", ["renew"]);
    assert.doesNotMatch(help.stdout + help.stderr, /renewal-info|\bari\b/i, "certbot 2.1 has no ARI option (else test replaces with it)");
    await certbot.runOk("certonly", standalone(["ari.sigil.test", "www.ari.sigil.test"]));
    const lineage = certbot.lineage("ari.sigil.test");
    const oldSerial = serialOf(lineage.cert);
    const [dir] = await sql<{ id: string }>(`select id from acme_directories where name = 'default'`);
    const su = await admin.superuser();
    const renewal = admin.client(RenewalService);
    const campaign = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.DIRECTORY, directoryId: dir!.id, now: true, reason: "interop: renew now" }, su)).campaign!;
    assert.equal(campaign.certificateCount, 1);

    // RFC 9773 §4.2: the certificate's renewalInfo now says renew at once
    const directory = (await (await fetch(`${server.baseUrl}/acme/default/directory`)).json()) as { renewalInfo: string };
    const certId = certIdOf(Buffer.from(new X509Certificate(readFileSync(lineage.cert)).raw));
    const ari = await fetch(`${directory.renewalInfo}/${certId}`);
    assert.equal(ari.status, 200, await ari.clone().text());
    const w = ((await ari.json()) as { suggestedWindow: { start: string } }).suggestedWindow;
    assert.ok(new Date(w.start).getTime() <= Date.now() + 1000, JSON.stringify(w));

    await certbot.runOk("renew", ["--force-renewal", "--no-random-sleep-on-renew", "--cert-name", "ari.sigil.test"]);
    const newSerial = serialOf(lineage.cert);
    assert.notEqual(newSerial, oldSerial);
    const renewed = (await sql<{ serial: string; renewed_from_id: string | null }>(`select serial, renewed_from_id from certificates where type <> 'ca'`)).find(
      (r) => normalizeSerial(r.serial) === newSerial,
    );
    assert.ok(renewed);
    assert.equal(renewed.renewed_from_id, null, "certbot 2.1 sends no replaces");
    const got = (await renewal.getRenewalCampaign({ id: campaign.id }, su)).campaign!;
    assert.equal(got.replacedCount, 1, "same names, same account, after the campaign started");
    assert.equal(got.replacedPercent, 100);
  });
});
