// The console's reading of the admin API's google.rpc error details (console/src/errors.ts).
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../../src/gen/google/rpc/error_details_pb.js";
import { describeError, errorFacts } from "../../../console/src/errors.js";

/** A ConnectError as the client builds it from an answer: details still encoded (IncomingDetail). */
function received(message: string, code: Code, details: { type: string; value: Uint8Array }[] = []): ConnectError {
  const err = new ConnectError(message, code);
  err.details.push(...details);
  return err;
}

function incoming(type: string, value: Uint8Array) {
  return { type, value };
}

describe("console: error details", () => {
  it("reads ErrorInfo.reason and RetryInfo.retry_delay and says when to retry", () => {
    const err = received("too many failed logins from this address; try again later", Code.ResourceExhausted, [
      incoming("google.rpc.ErrorInfo", toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "LOGIN_THROTTLED", domain: "sigil.dev" }))),
      incoming("google.rpc.RetryInfo", toBinary(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { seconds: 900n, nanos: 5 } }))),
    ]);
    const f = errorFacts(err);
    assert.equal(f.code, Code.ResourceExhausted);
    assert.equal(f.reason, "LOGIN_THROTTLED");
    assert.equal(f.retryAfterSeconds, 900);
    assert.equal(describeError(err), "too many failed logins from this address; try again later (retry in about 15 min)");
  });

  it("says seconds for a short delay, and only the message without details", () => {
    const short = received("slow down", Code.ResourceExhausted, [
      incoming("google.rpc.RetryInfo", toBinary(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { seconds: 42n } }))),
    ]);
    assert.equal(describeError(short), "slow down (retry in 42 s)");
    assert.equal(describeError(new ConnectError("invalid username or password", Code.Unauthenticated)), "invalid username or password");
    assert.equal(describeError(new Error("boom")), "boom");
  });

  it("survives a detail it cannot read", () => {
    const err = received("x", Code.Internal, [incoming("google.rpc.RetryInfo", new Uint8Array([0x0a, 0xff]))]);
    assert.equal(errorFacts(err).message, "x");
  });
});
