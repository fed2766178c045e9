/** The CA input rules of ra/input.ts: one rule per input, the CRL base URL exactly as the signer accepts it. */
import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import { parseLeafType } from "../../../src/core/types.js";
import { optionalCrlBaseUrl, requireCaName } from "../../../src/ra/input.js";
import { caPublicUrls, isValidCrlBaseUrl } from "../../../src/ra/issuers.js";
import { isSignableUrl } from "../../../src/ca/signer.js";

function throwsNaming(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => isSigilError(e, "invalidArgument") && e.field === field);
}

describe("ra/input: CA input rules", () => {
  it("accepts CRL base URLs whose built URLs the signer writes", () => {
    for (const url of ["http://crl.example.test", "https://pki.example.test/sigil/", "http://127.0.0.1:8080"]) {
      assert.equal(optionalCrlBaseUrl(url), url);
      const urls = caPublicUrls({ id: "0190aaaa-0000-7000-8000-000000000000", crlBaseUrl: url }, "http://unused");
      assert.ok([urls.crlUrl, urls.caIssuersUrl, urls.ocspUrl].every(isSignableUrl));
    }
    assert.equal(optionalCrlBaseUrl(""), null);
    assert.equal(optionalCrlBaseUrl(undefined), null);
  });

  it("refuses, naming crl_base_url, what the signer or the URL builder would refuse", () => {
    for (const url of ["http://crl.example.test/a b", "http://crl.example.test/\u00e9", "HTTPS://crl.example.test", "ftp://x.test", "http://x.test/?q", "http://x.test/#f", "crl.example.test", `http://x.test/${"a".repeat(600)}`]) {
      assert.equal(isValidCrlBaseUrl(url), false, url);
      throwsNaming(() => optionalCrlBaseUrl(url), "crl_base_url");
    }
  });

  it("checks CA names", () => {
    assert.equal(requireCaName("Root CA 1"), "Root CA 1");
    for (const bad of ["", " leading", "a/b", "x".repeat(129)]) throwsNaming(() => requireCaName(bad), "name");
  });

  it("parses the leaf type once for every layer", () => {
    assert.equal(parseLeafType("server"), "server");
    assert.equal(parseLeafType("dual"), "dual");
    assert.equal(parseLeafType("ca"), undefined);
    assert.equal(parseLeafType(1), undefined);
  });
});
