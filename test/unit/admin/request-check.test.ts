import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { checkRequest } from "../../../src/admin/request-check.js";
import { LoginRequestSchema } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { SigilError } from "../../../src/core/errors.js";

/** The admin edge's generic string checks (src/admin/request-check.ts), on a real request schema. */
describe("admin request check: text PostgreSQL cannot store", () => {
  const refused = (field: string) => (e: unknown) => e instanceof SigilError && e.kind === "invalidArgument" && e.field === field;

  it("refuses a lone UTF-16 surrogate (high or low) naming the field, and accepts a well-formed pair", () => {
    assert.throws(() => checkRequest(LoginRequestSchema, create(LoginRequestSchema, { username: "a\uD800b", password: "x" })), refused("username"));
    assert.throws(() => checkRequest(LoginRequestSchema, create(LoginRequestSchema, { username: "a\uDC00", password: "x" })), refused("username"));
    assert.doesNotThrow(() => checkRequest(LoginRequestSchema, create(LoginRequestSchema, { username: "emoji-\uD83D\uDE00", password: "x" })));
  });

  it("refuses U+0000 naming the field", () => {
    assert.throws(() => checkRequest(LoginRequestSchema, create(LoginRequestSchema, { username: "ok", password: "p\u0000w" })), refused("password"));
  });
});
