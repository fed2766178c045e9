import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { SigilError, Violations } from "../../../src/core/errors.js";
import { decodeStatusDetails, encodeStatusDetails, errorDetails, KIND_REASONS, sortDetails } from "../../../src/admin/error-details.js";
import { checkRequest } from "../../../src/admin/request-check.js";
import { renderRpcErrorJson, renderRpcErrorText } from "../../../src/cli/rpc-errors.js";
import { CreateOrganizationRequestSchema } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { create } from "@bufbuild/protobuf";

function roundTrip(err: unknown, code = grpc.status.INVALID_ARGUMENT) {
  const d = decodeStatusDetails(encodeStatusDetails(code, "m", errorDetails(err)));
  assert.ok(d);
  return d;
}

describe("admin error details (google.rpc)", function () {
  it("ok/violations: collects every field and throws one error naming the first", function () {
    const v = new Violations().add("name", "required").add("ttl", "must not be negative");
    assert.throws(
      () => v.throwIfAny(),
      (e: unknown) =>
        e instanceof SigilError &&
        e.kind === "invalidArgument" &&
        e.field === "name" &&
        e.message === "name: required (and 1 more)" &&
        e.violations.length === 2,
    );
  });

  it("ok/violations-single: one violation keeps the old single-field error", function () {
    assert.throws(() => new Violations().add("email", "must be valid").throwIfAny(), (e: unknown) => e instanceof SigilError && e.message === "must be valid" && e.field === "email");
    assert.doesNotThrow(() => new Violations().throwIfAny());
  });

  it("ok/collect: records invalidArgument errors and rethrows anything else", function () {
    const v = new Violations();
    v.collect(() => {
      throw SigilError.invalidArgument("bad", "a");
    });
    assert.equal(v.take(() => 7), 7);
    assert.deepEqual(v.list, [{ field: "a", description: "bad" }]);
    assert.throws(() => v.collect(() => { throw SigilError.notFound("x"); }), /x/);
  });

  it("ok/bad-request: every violation, the field prefix stripped from the description", function () {
    const d = roundTrip(SigilError.invalidArguments([{ field: "a", description: "a: bad" }, { field: "b", description: "worse" }]));
    assert.equal(d.errorInfo?.reason, "INVALID_ARGUMENT");
    assert.equal(d.errorInfo?.domain, "sigil.dev");
    assert.equal(d.errorInfo?.metadata.field, "a");
    assert.deepEqual(d.badRequest?.fieldViolations.map((f) => [f.field, f.description]), [["a", "bad"], ["b", "worse"]]);
  });

  it("ok/request-check: names every NUL string at once", function () {
    const msg = create(CreateOrganizationRequestSchema, { name: "a\u0000", description: "b\u0000", slug: "ok" });
    assert.throws(() => checkRequest(CreateOrganizationRequestSchema, msg), (e: unknown) => e instanceof SigilError && e.violations.map((v) => v.field).join() === "name,description");
  });

  it("ok/precondition-and-retry: PreconditionFailure and RetryInfo", function () {
    const p = roundTrip(SigilError.failedPrecondition("it is the default", { type: "DEFAULT_PROFILE", subject: "acme_profiles/1" }), grpc.status.FAILED_PRECONDITION);
    assert.equal(p.errorInfo?.reason, "DEFAULT_PROFILE");
    assert.deepEqual(p.preconditionFailure?.violations.map((v) => [v.type, v.subject, v.description]), [["DEFAULT_PROFILE", "acme_profiles/1", "it is the default"]]);
    const r = roundTrip(SigilError.resourceExhausted("slow down", { retryAfterMs: 1500, reason: "LOGIN_THROTTLED" }), grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(r.errorInfo?.reason, "LOGIN_THROTTLED");
    assert.equal(durationMs(r.retryInfo!.retryDelay!), 1500);
  });

  it("fail/internal: only ErrorInfo INTERNAL, nothing of the cause", function () {
    for (const err of [new Error("secret db password"), SigilError.internal("secret"), SigilError.config("secret", "SIGIL_X")]) {
      const d = errorDetails(err);
      assert.equal(d.length, 1);
      assert.equal(sortDetails(d.map((x) => x.value)).errorInfo?.reason, "INTERNAL");
      const wire = encodeStatusDetails(grpc.status.INTERNAL, "internal error", d);
      assert.ok(!wire.toString("latin1").includes("secret"));
    }
  });

  it("ok/reasons: every kind has an UPPER_SNAKE_CASE reason", function () {
    for (const r of Object.values(KIND_REASONS)) assert.match(r, /^[A-Z][A-Z_]*$/);
  });

  it("ok/cli: text lists each detail; --json is the google.rpc.Status", function () {
    const err = SigilError.invalidArguments([{ field: "a", description: "bad" }, { field: "b", description: "worse" }]);
    const metadata = new grpc.Metadata();
    metadata.set("grpc-status-details-bin", encodeStatusDetails(grpc.status.INVALID_ARGUMENT, err.message, errorDetails(err)));
    const e = { code: grpc.status.INVALID_ARGUMENT, details: err.message, metadata };
    assert.equal(renderRpcErrorText(e), "sigil: INVALID_ARGUMENT: a: bad (and 1 more)\n  reason: INVALID_ARGUMENT (sigil.dev)\n  field a: bad\n  field b: worse\n");
    const doc = JSON.parse(renderRpcErrorJson(e)) as { code: number; codeName: string; details: Array<{ "@type": string }> };
    assert.equal(doc.code, 3);
    assert.equal(doc.codeName, "INVALID_ARGUMENT");
    assert.deepEqual(doc.details.map((d) => d["@type"]), ["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.BadRequest"]);
    // without the trailer (an old server): the code and message only
    assert.equal(renderRpcErrorText({ code: 5, details: "gone" }), "sigil: NOT_FOUND: gone\n");
  });
});
