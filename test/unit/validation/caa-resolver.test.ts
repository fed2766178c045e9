/**
 * The real resolver's CAA records (node:dns Resolver#resolveCaa mapped by
 * src/validation/network.ts) against a tiny authoritative server that sends
 * exactly the records given: a property whose tag is literally "critical"
 * overwrites node's flags field, and must still refuse (RFC 8659 §4.1).
 */
import assert from "node:assert/strict";
import { checkCaa } from "../../../src/validation/caa.js";
import { caaRecordOfNode, createDnsResolver } from "../../../src/validation/network.js";
import { startDns, type Rr } from "./caa-dns-server.js";

const ACCOUNT = "https://acme.example.test/acme/default/acct/0190a0a0-0000-7000-8000-000000000001";
const req = { name: "example.test", wildcard: false, accountUri: ACCOUNT, method: "http-01", issuerDomains: ["sigil.example"] };

async function withZone<T>(rrs: Rr[], fn: (resolver: ReturnType<typeof createDnsResolver>) => Promise<T>): Promise<T> {
  const dns = await startDns({ "example.test": rrs });
  try {
    return await fn(createDnsResolver([`127.0.0.1:${dns.port}`], { timeoutMs: 1000, tries: 1 }));
  } finally {
    dns.close();
  }
}

describe("validation/CAA records through the real resolver (node's { critical, [tag] } shape)", () => {
  it("fail/an unknown property tagged 'critical' with the Issuer Critical Flag refuses (caa)", async () => {
    await withZone(
      [
        { type: "CAA", flags: 0, tag: "issue", value: "sigil.example" },
        { type: "CAA", flags: 128, tag: "critical", value: "must-understand" },
      ],
      async (resolver) => {
        const recs = await resolver.resolveCaa("example.test");
        assert.deepEqual(recs, [
          { flags: 0, tag: "issue", value: "sigil.example" },
          { flags: 128, tag: "critical", value: "must-understand" },
        ]);
        const out = await checkCaa(req, resolver);
        assert.equal(out.status, "invalid");
        if (out.status === "invalid") {
          assert.equal(out.error.type, "caa");
          assert.match(out.error.detail, /critical property "critical" is not understood/);
        }
      },
    );
  });

  it("fail/a tag 'critical' without the flag refuses too (its flags are lost: fail closed)", async () => {
    await withZone(
      [
        { type: "CAA", flags: 0, tag: "issue", value: "sigil.example" },
        { type: "CAA", flags: 0, tag: "critical", value: "x" },
      ],
      async (resolver) => assert.equal((await checkCaa(req, resolver)).status, "invalid"),
    );
  });

  it("fail/control: an unknown critical tag 'tbs' refuses", async () => {
    await withZone(
      [
        { type: "CAA", flags: 0, tag: "issue", value: "sigil.example" },
        { type: "CAA", flags: 128, tag: "tbs", value: "must-understand" },
      ],
      async (resolver) => assert.equal((await checkCaa(req, resolver)).status, "invalid"),
    );
  });

  it("ok/control: a non-critical unknown tag is ignored and the issue property for this CA passes", async () => {
    await withZone(
      [
        { type: "CAA", flags: 0, tag: "issue", value: "sigil.example" },
        { type: "CAA", flags: 0, tag: "tbs", value: "x" },
      ],
      async (resolver) => assert.deepEqual(await checkCaa(req, resolver), { status: "valid", relevantName: "example.test" }),
    );
  });

  it("node cuts a value at its first NUL octet (the limitation docs/caa.md names)", async () => {
    const value = Buffer.concat([Buffer.from("sigil.example"), Buffer.from([0]), Buffer.from("; accounturi=https://other.example/acct/1")]);
    await withZone([{ type: "CAA", flags: 0, tag: "issue", value }], async (resolver) => {
      assert.deepEqual(await resolver.resolveCaa("example.test"), [{ flags: 0, tag: "issue", value: "sigil.example" }]);
    });
  });

  for (const [name, raw, want] of [
    ["ok/{critical: 0, issue}", { critical: 0, issue: "ca.example" }, { flags: 0, tag: "issue", value: "ca.example" }],
    ["ok/{critical: 128, tbs} keeps the flag", { critical: 128, tbs: "v" }, { flags: 128, tag: "tbs", value: "v" }],
    ["fail/{critical: 'v'} (tag 'critical') is critical", { critical: "v" }, { flags: 128, tag: "critical", value: "v" }],
    ["fail/{critical: 0} with no tag of its own is critical", { critical: 0 }, { flags: 128, tag: "critical", value: "" }],
  ] as const) {
    it(`caaRecordOfNode ${name}`, () => assert.deepEqual(caaRecordOfNode(raw), want));
  }
});
