import assert from "node:assert/strict";
import { status as Code } from "@grpc/grpc-js";
import { SigilError, type SigilErrorKind } from "../../../src/core/errors.js";
import { INTERNAL_ERROR_MESSAGE, toGrpcStatus } from "../../../src/admin/status.js";

describe("admin/status: SigilError -> gRPC status", function () {
  // Record<SigilErrorKind, ...>: adding a kind without a row does not compile.
  const table: Record<SigilErrorKind, { err: SigilError; code: Code; details: string }> = {
    invalidArgument: {
      err: SigilError.invalidArgument("must be a valid address", "email"),
      code: Code.INVALID_ARGUMENT,
      details: "email: must be a valid address",
    },
    notFound: { err: SigilError.notFound("user not found"), code: Code.NOT_FOUND, details: "user not found" },
    alreadyExists: {
      err: SigilError.alreadyExists("already taken", "username"),
      code: Code.ALREADY_EXISTS,
      details: "username: already taken",
    },
    failedPrecondition: {
      err: SigilError.failedPrecondition("the CA has children"),
      code: Code.FAILED_PRECONDITION,
      details: "the CA has children",
    },
    permissionDenied: { err: SigilError.permissionDenied(), code: Code.PERMISSION_DENIED, details: "permission denied" },
    unauthenticated: { err: SigilError.unauthenticated(), code: Code.UNAUTHENTICATED, details: "authentication required" },
    resourceExhausted: {
      err: SigilError.resourceExhausted("too many attempts"),
      code: Code.RESOURCE_EXHAUSTED,
      details: "too many attempts",
    },
    badCsr: { err: SigilError.badCsr("bad signature"), code: Code.INVALID_ARGUMENT, details: "bad signature" },
    badPublicKey: { err: SigilError.badPublicKey("RSA 1024 is too weak"), code: Code.INVALID_ARGUMENT, details: "RSA 1024 is too weak" },
    rejectedIdentifier: {
      err: SigilError.rejectedIdentifier("example.org is not allowed"),
      code: Code.INVALID_ARGUMENT,
      details: "example.org is not allowed",
    },
    alreadyRevoked: {
      err: new SigilError("alreadyRevoked", "the certificate is already revoked"),
      code: Code.FAILED_PRECONDITION,
      details: "the certificate is already revoked",
    },
    unavailable: {
      err: SigilError.unavailable("the database did not answer"),
      code: Code.UNAVAILABLE,
      details: "the service is unavailable; retry later",
    },
    config: { err: SigilError.config("bad value", "SIGIL_X"), code: Code.INTERNAL, details: INTERNAL_ERROR_MESSAGE },
    internal: {
      err: SigilError.internal("db at 10.0.0.1 down", new Error("ECONNREFUSED")),
      code: Code.INTERNAL,
      details: INTERNAL_ERROR_MESSAGE,
    },
  };

  for (const [kind, c] of Object.entries(table)) {
    it(`maps ${kind} to ${Code[c.code]}`, function () {
      const causes: unknown[] = [];
      const st = toGrpcStatus(c.err, (cause) => causes.push(cause));
      assert.equal(st.code, c.code);
      assert.equal(st.details, c.details);
      // the causes of internal and unavailable errors go to the log, never to the client
      assert.deepEqual(causes, c.code === Code.INTERNAL || c.code === Code.UNAVAILABLE ? [c.err] : []);
    });
  }

  it("maps a plain Error to INTERNAL without detail and hands it to the sink", function () {
    const boom = new Error("secret detail");
    const causes: unknown[] = [];
    assert.deepEqual(toGrpcStatus(boom, (c) => causes.push(c)), { code: Code.INTERNAL, details: "internal error" });
    assert.deepEqual(causes, [boom]);
  });

  it("does not repeat a field already named in the message", function () {
    const st = toGrpcStatus(SigilError.invalidArgument("email: must be a valid address", "email"));
    assert.equal(st.details, "email: must be a valid address");
  });
});
