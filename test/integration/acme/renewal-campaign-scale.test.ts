/**
 * Renewal campaigns at size: members are written by one insert ... select,
 * so a CA with 200 000 certificates is one statement (timed here), and a
 * small CA among many certificates is found through the (issuer_id, serial)
 * index, not a scan; a certificate's renewalInfo campaign lookup uses the
 * certificate_id index. Rows are bulk-inserted with generate_series (their
 * PEM is a placeholder: nothing here parses it).
 */
import assert from "node:assert/strict";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { RenewalCampaignScope, RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg } from "../admin/helpers.js";
import { createIntermediate, createRoot, PkiClients } from "../admin/pki-helpers.js";

const BIG = 200_000;
const SMALL = 2_000;

describe("renewal campaigns at size", function () {
  this.timeout(600_000);
  let server: TestServer;
  let pki: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let bigCa: string;
  let smallCa: string;

  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  async function bulk(caId: string, n: number, prefix: string): Promise<void> {
    await sql(
      `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, not_before, not_after, source, certificate_pem, created_at)
       select gen_random_uuid(), ? || lpad(to_hex(g), 10, '0'), ?, ?, 'server', 'valid', jsonb_build_array(? || g || '.scale.example'),
              now() - interval '1 day', now() + interval '89 days', 'admin', 'placeholder', now()
         from generate_series(1, ?) g`,
      [prefix, caId, orgId, prefix, n],
    );
  }

  before(async () => {
    server = await startTestServer();
    pki = new PkiClients(server);
    su = await pki.superuser();
    orgId = await createOrg(pki, su);
    const root = await createRoot(pki, su, orgId, { pathLength: 1 });
    bigCa = (await createIntermediate(pki, su, root.id)).id;
    smallCa = (await createIntermediate(pki, su, root.id)).id;
    await bulk(bigCa, BIG, "7a");
    await bulk(smallCa, SMALL, "7b");
    await sql(`analyze certificates`);
  });
  after(async () => {
    pki?.close();
    await server?.stop();
  });

  it(`a CA with ${BIG} certificates: one statement, every certificate a member`, async () => {
    const renewal = pki.client(RenewalService);
    const t0 = performance.now();
    const c = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId: bigCa, now: true, reason: "scale" }, su)).campaign!;
    const createMs = performance.now() - t0;
    assert.equal(c.certificateCount, BIG);
    const t1 = performance.now();
    const got = (await renewal.getRenewalCampaign({ id: c.id }, su)).campaign!;
    const progressMs = performance.now() - t1;
    assert.equal(got.replacedCount, 0);
    console.log(`      CreateRenewalCampaign for ${BIG} certificates: ${createMs.toFixed(0)} ms; GetRenewalCampaign progress: ${progressMs.toFixed(0)} ms`);
    assert.ok(createMs < 120_000, `${createMs} ms`);
  });

  it("the small CA's members come from the (issuer_id, serial) index; a certificate's campaigns from the certificate_id index", async () => {
    const plan = (await sql<{ "QUERY PLAN": string }>(
      `explain select c.id from certificates c where c.issuer_id = (?::uuid[])[1] and c.organization_id = ? and c.status = 'valid' and c.not_after > now()`,
      [`{${smallCa}}`, orgId],
    ))
      .map((r) => r["QUERY PLAN"])
      .join("\n");
    assert.match(plan, /Index|Bitmap/, plan);
    assert.doesNotMatch(plan, /Seq Scan on certificates/, plan);
    const renewal = pki.client(RenewalService);
    const c = (await renewal.createRenewalCampaign({ scope: RenewalCampaignScope.CA, caId: smallCa, now: true, reason: "small" }, su)).campaign!;
    assert.equal(c.certificateCount, SMALL);
    const [one] = await sql<{ id: string }>(`select id from certificates where issuer_id = ? limit 1`, [smallCa]);
    const lookup = (await sql<{ "QUERY PLAN": string }>(
      `explain select c.id from renewal_campaign_certificates m join renewal_campaigns c on c.id = m.campaign_id
        where m.certificate_id = ? and c.cancelled_at is null order by c.window_start, c.window_end limit 1`,
      [one!.id],
    ))
      .map((r) => r["QUERY PLAN"])
      .join("\n");
    assert.doesNotMatch(lookup, /Seq Scan on renewal_campaign_certificates/, lookup);
  });
});
