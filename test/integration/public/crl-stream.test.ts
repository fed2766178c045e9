/**
 * The CRL publisher's streamed read (src/db/store/crls.ts streamRevokedEntries: one binary
 * COPY parsed row by row into the entry writer): every revoked row of the CA is listed with
 * its serial as stored (upper-case, odd-length and zero-padded hex included), revocation
 * time and reason (none for unspecified, null or a value that is no CRLReason, RFC 5280
 * §5.3.1); a row the encoder refuses fails the publish as invalidArgument without consuming
 * a CRL number, and the same database connection publishes normally afterwards.
 */
import assert from "node:assert/strict";
import * as pkijs from "pkijs";
import { isSigilError } from "../../../src/core/errors.js";
import { CrlPublisher } from "../../../src/ra/crl.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";

describe("CRL publish from the streamed revoked rows", function () {
  this.timeout(60_000);
  let server: TestServer;
  let caId: string;
  let orgId: string;
  const exec = async <T>(sql: string, params: unknown[] = []): Promise<T> => (await server.db.orm.em.fork().execute(sql, params)) as T;
  const insertRevoked = (serial: string, revokedAt: string, reason: number | null) =>
    exec(
      `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, ip_addresses, emails,
         not_before, not_after, revoked_at, revocation_reason, source, certificate_pem, created_at)
       values (gen_random_uuid(), ?, ?, ?, 'server', 'revoked', '[]', '[]', '[]', now() - interval '1 day', now() + interval '90 days', ?, ?, 'admin', 'x', now())`,
      [serial, caId, orgId, revokedAt, reason],
    );
  const crlNumber = async () => BigInt((await exec<{ crl_number: string }[]>(`select crl_number from certificate_authorities where id = ?`, [caId]))[0]!.crl_number);

  before(async () => {
    server = await startTestServer();
    caId = server.bootstrap.intermediateCaId;
    orgId = (await exec<{ organization_id: string }[]>(`select organization_id from certificate_authorities where id = ?`, [caId]))[0]!.organization_id;
  });
  after(async () => server?.stop());

  it("ok: lists every revoked row with its serial, time and reason", async () => {
    const rows: Array<[string, string, number | null, string, number | undefined]> = [
      // stored serial, revoked_at, stored reason, expected serial (hex of the INTEGER), expected reasonCode
      ["ABCDEF0123456789", "2026-11-30T10:00:00.750Z", 1, "00abcdef0123456789", 1], // high bit: a leading 00
      ["1abc", "2026-11-30T10:00:01Z", 4, "1abc", 4],
      ["00ff", "2049-12-31T23:59:59Z", 10, "00ff", 10], // high bit after the zero octet is dropped: 02 02 00 ff
      ["7f" + "ab".repeat(19), "2050-01-01T00:00:00Z", 0, "7f" + "ab".repeat(19), undefined], // 20 octets, GeneralizedTime
      ["42", "2026-11-30T10:00:02Z", 7, "42", undefined], // 7 is no CRLReason
      ["43", "2026-11-30T10:00:03Z", null, "43", undefined],
    ];
    for (const [serial, at, reason] of rows) await insertRevoked(serial, at, reason);
    const publisher = new CrlPublisher(server.ra, { lifetimeHours: 168 });
    try {
      const crl = await publisher.generate(caId);
      assert.equal(crl.entryCount, rows.length);
      const parsed = pkijs.CertificateRevocationList.fromBER(crl.der);
      const listed = new Map(
        (parsed.revokedCertificates ?? []).map((r) => {
          const reasonExt = r.crlEntryExtensions?.extensions.find((x) => x.extnID === "2.5.29.21");
          const reason = reasonExt ? (reasonExt.parsedValue as { valueBlock: { valueDec: number } }).valueBlock.valueDec : undefined;
          return [Buffer.from(r.userCertificate.valueBlock.valueHexView).toString("hex"), { at: r.revocationDate.value.getTime(), reason }];
        }),
      );
      assert.equal(listed.size, rows.length);
      for (const [, at, , serial, reason] of rows) {
        const e = listed.get(serial);
        assert.ok(e, `serial ${serial} listed`);
        // whole seconds (RFC 5280 §5.1.2.6 revocationDate is a UTCTime / GeneralizedTime without fractions)
        assert.equal(e.at, Math.floor(Date.parse(at) / 1000) * 1000, serial);
        assert.equal(e.reason, reason, serial);
      }
    } finally {
      await publisher.close();
    }
  });

  it("fail: a stored serial that is no hex fails the publish as invalidArgument, consumes no number, and the next publish works", async () => {
    const publisher = new CrlPublisher(server.ra, { lifetimeHours: 168 });
    try {
      const before = await crlNumber();
      await insertRevoked("zz01", "2026-11-30T11:00:00Z", 1);
      await assert.rejects(publisher.generate(caId), (e: unknown) => isSigilError(e, "invalidArgument"));
      assert.equal(await crlNumber(), before, "the failed publish rolled back its CRL number");
      // (certificate rows are never deleted: the serial is corrected instead)
      await exec(`update certificates set serial = 'cafe01' where issuer_id = ? and serial = 'zz01'`, [caId]);
      const crl = await publisher.generate(caId);
      assert.ok(crl.crlNumber > before);
      assert.equal(crl.entryCount, 7);
    } finally {
      await publisher.close();
    }
  });
});
