import assert from "node:assert/strict";
import { AcmeError } from "../../../src/ra/acme/errors.js";
import { parseCertId, renewalInfoMaxAge, renewalRetryAfterSeconds, suggestedWindow, withCampaign, type RenewalSubject } from "../../../src/ra/acme/renewal-info.js";

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

  it("review 2 M2: a revoked certificate in an older, longer campaign is still told to renew now", () => {
    const t = new Date("2026-12-01T12:00:00Z");
    const own = suggestedWindow(
      { notBefore: new Date(t.getTime() - 10 * DAY), notAfter: new Date(t.getTime() + 80 * DAY), revoked: true, issuerRevoked: false, issuerNotAfter: new Date(t.getTime() + 999 * DAY) },
      t,
    );
    const campaign = { start: new Date(t.getTime() - DAY), end: new Date(t.getTime() + 30 * DAY) };
    for (const at of [{ now: t }, {}]) {
      const { window } = withCampaign(own, campaign, at);
      assert.ok(window.end.getTime() <= t.getTime(), `told to renew as late as ${window.end.toISOString()}`);
    }
    assert.deepEqual(withCampaign(own, campaign, { now: t }), { window: own, fromCampaign: false });
  });

  it("review 2 M2: min(starts)..min(ends), the end capped at notAfter: neither bound ever moves later", () => {
    const t = new Date("2026-12-01T12:00:00Z");
    const notAfter = new Date(t.getTime() + 80 * DAY);
    const own = suggestedWindow({ notBefore: new Date(t.getTime() - 10 * DAY), notAfter, revoked: false, issuerRevoked: false, issuerNotAfter: new Date(t.getTime() + 999 * DAY) }, t);
    // a year-long campaign starting now: starts now, ends no later than the certificate's own window
    const long = withCampaign(own, { start: t, end: new Date(t.getTime() + 365 * DAY) }, { now: t, notAfter });
    assert.equal(long.fromCampaign, true);
    assert.equal(long.window.start.getTime(), t.getTime());
    assert.equal(long.window.end.getTime(), own.end.getTime());
    assert.ok(long.window.end < notAfter);
    // a campaign ending before the own window ends: its end
    const end = new Date(t.getTime() + 5 * DAY);
    assert.deepEqual(withCampaign(own, { start: t, end }, { now: t, notAfter }).window, { start: t, end });
    // a certificate expiring before the campaign's end: capped at notAfter
    const shortCert = { start: new Date(t.getTime() + 2 * DAY), end: new Date(t.getTime() + 4 * DAY) };
    const soonAfter = new Date(t.getTime() + 3 * DAY);
    assert.equal(withCampaign(shortCert, { start: t, end: new Date(t.getTime() + 30 * DAY) }, { now: t, notAfter: soonAfter }).window.end.getTime(), soonAfter.getTime());
    // a later campaign changes nothing
    assert.deepEqual(withCampaign(own, { start: new Date(own.start.getTime() + DAY), end: new Date(own.end.getTime() + DAY) }, { now: t, notAfter }), { window: own, fromCampaign: false });
  });

  it("RFC 9773 §4.3 / RFC 9111: caches keep an answer at most 5 minutes, whatever Retry-After says", () => {
    assert.equal(renewalInfoMaxAge(21_600), 300);
    assert.equal(renewalInfoMaxAge(120), 120);
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
