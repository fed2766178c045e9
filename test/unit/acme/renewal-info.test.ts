import assert from "node:assert/strict";
import { AcmeError } from "../../../src/ra/acme/errors.js";
import { parseCertId, renewalRetryAfterSeconds, suggestedWindow, withCampaign, type RenewalSubject } from "../../../src/ra/acme/renewal-info.js";

/** RFC 9773 §4.2 suggestedWindow rule and §4.1 certID parsing */
describe("RFC 9773 renewal information: window rule", () => {
  const MIN = 60_000;
  const DAY = 86_400_000;
  // half an hour into every certificate's validity (the shortest is one hour)
  const now = new Date("2026-05-01T00:30:00Z");
  const nb = new Date("2026-05-01T00:00:00Z");
  const after = (ms: number) => new Date(nb.getTime() + ms);
  const base = (validity: number): RenewalSubject => ({
    notBefore: nb,
    notAfter: after(validity),
    revoked: false,
    issuerRevoked: false,
    issuerNotAfter: after(10 * 365 * DAY),
  });
  const past = { start: new Date(now.getTime() - MIN - 3_600_000), end: new Date(now.getTime() - MIN) };

  const cases: { name: string; s: RenewalSubject; want: { start: Date; end: Date } }[] = [
    // 90 days: centre at 60 days, ±0.9 days
    { name: "normal (90 days): centred at 2/3, ±1% of the validity", s: base(90 * DAY), want: { start: after(60 * DAY - 0.9 * DAY), end: after(60 * DAY + 0.9 * DAY) } },
    // 6 days: centre at 3 days, ±1.44 h
    { name: "short-lived (< 10 days): centred at 1/2", s: base(6 * DAY), want: { start: after(3 * DAY - 0.06 * DAY), end: after(3 * DAY + 0.06 * DAY) } },
    // 1 hour: ±1% is 36 s, widened to a minute
    { name: "very short-lived: at least one minute either side", s: base(3_600_000), want: { start: after(1_800_000 - MIN), end: after(1_800_000 + MIN) } },
    { name: "revoked: a window in the past (renew immediately)", s: { ...base(90 * DAY), revoked: true }, want: past },
    { name: "issuing CA revoked: a window in the past", s: { ...base(90 * DAY), issuerRevoked: true }, want: past },
    { name: "issuing CA expires before the certificate: a window in the past", s: { ...base(90 * DAY), issuerNotAfter: after(30 * DAY) }, want: past },
    { name: "expired: a window in the past (renew immediately), not its old window", s: { ...base(90 * DAY), notAfter: new Date(now.getTime() - DAY) }, want: past },
  ];
  for (const c of cases) {
    it(`RFC 9773 §4.2 ${c.name}`, () => {
      const w = suggestedWindow(c.s, now);
      assert.deepEqual({ start: w.start.toISOString(), end: w.end.toISOString() }, { start: c.want.start.toISOString(), end: c.want.end.toISOString() });
      assert.ok(w.start < w.end);
    });
  }

  it("RFC 9773 §4.3 Retry-After is 6 h ±10%", () => {
    assert.equal(renewalRetryAfterSeconds(() => 0), 19_440);
    assert.equal(renewalRetryAfterSeconds(() => 0.5), 21_600);
    assert.equal(renewalRetryAfterSeconds(() => 0.999999), 23_760);
  });

  it("RFC 9773 §4.3 Retry-After follows SIGIL_ARI_RETRY_AFTER_SECONDS with the same jitter, never below 1 s", () => {
    assert.equal(renewalRetryAfterSeconds(() => 0, 3600), 3240);
    assert.equal(renewalRetryAfterSeconds(() => 0.999999, 3600), 3960);
    assert.equal(renewalRetryAfterSeconds(() => 0, 1), 1);
  });

  it("a campaign window applies only when it starts before the certificate's own", () => {
    const own = { start: after(60 * DAY), end: after(61 * DAY) };
    const sooner = { start: now, end: new Date(now.getTime() + MIN) };
    const later = { start: after(70 * DAY), end: after(71 * DAY) };
    assert.deepEqual(withCampaign(own, sooner), { window: sooner, fromCampaign: true });
    assert.deepEqual(withCampaign(own, later), { window: own, fromCampaign: false });
    assert.deepEqual(withCampaign(own, null), { window: own, fromCampaign: false });
    // a revoked certificate's "renew now" window is never pushed back by a campaign
    assert.deepEqual(withCampaign(past, sooner), { window: past, fromCampaign: false });
  });
});

describe("RFC 9773 §4.1 certID parsing", () => {
  const aki = Buffer.from("0102030405", "hex").toString("base64url");
  it("decodes the key identifier and the serial (leading 00 of a high-bit serial dropped)", () => {
    const id = parseCertId(`${aki}.${Buffer.from("0087654321", "hex").toString("base64url")}`);
    assert.equal(id.keyIdentifier.toString("hex"), "0102030405");
    assert.equal(id.serialHex, "87654321");
    assert.equal(parseCertId(`${aki}.${Buffer.from("4a", "hex").toString("base64url")}`).serialHex, "4a");
  });
  for (const [name, certId] of [
    ["one part", aki],
    ["three parts", `${aki}.AQ.AQ`],
    ["empty key identifier", ".AQ"],
    ["empty serial", `${aki}.`],
    ["not base64url", `${aki}.A+/=`],
    ["negative serial", `${aki}.${Buffer.from("87", "hex").toString("base64url")}`],
    ["zero serial", `${aki}.AA`],
    ["non-minimal serial", `${aki}.${Buffer.from("0001", "hex").toString("base64url")}`],
    ["serial longer than 20 octets", `${aki}.${Buffer.alloc(21, 0x11).toString("base64url")}`],
  ] as const) {
    it(`refuses ${name} as malformed`, () => {
      assert.throws(() => parseCertId(certId), (e: AcmeError) => e instanceof AcmeError && e.acmeType === "malformed" && e.status === undefined);
    });
  }
});
