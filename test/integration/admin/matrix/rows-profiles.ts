/**
 * Permission-matrix rows of AcmeService's profile methods
 * (draft-ietf-acme-profiles-00): members read, organization admins write,
 * other tenants get NOT_FOUND (src/ra/acme/profiles.ts).
 */
import assert from "node:assert/strict";
import { AcmeService } from "../../../../src/gen/sigil/admin/v1/acme_pb.js";
import { sharedDirectory } from "./rows-pki.js";
import { EXPECT, type MatrixFixture, type MatrixRow } from "./types.js";

async function freshProfile(fx: MatrixFixture): Promise<{ id: string; name: string }> {
  const dir = await sharedDirectory(fx);
  const { profile } = await fx.superuser(AcmeService, "createAcmeProfile", { directoryId: dir.id, name: fx.unique("m-prof"), preset: "tlsserver" });
  return profile;
}

function sharedProfile(fx: MatrixFixture): Promise<{ id: string; name: string }> {
  return fx.shared("profiles:profile", () => freshProfile(fx));
}

export const profileRows: MatrixRow[] = [
  {
    service: AcmeService,
    method: "CreateAcmeProfile",
    request: async (fx) => ({ directoryId: (await sharedDirectory(fx)).id, name: fx.unique("m-newprof"), preset: "shortlived" }),
    expect: EXPECT.admin(),
    check: (res) => assert.equal(res.profile.maxValiditySeconds, 160 * 3600),
  },
  {
    service: AcmeService,
    method: "GetAcmeProfile",
    request: async (fx) => ({ id: (await sharedProfile(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => assert.equal(res.profile.includeCommonName, false),
  },
  {
    service: AcmeService,
    method: "ListAcmeProfiles",
    request: async (fx) => ({ directoryId: (await sharedDirectory(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => assert.ok(res.profiles.some((p: { name: string; isDefault: boolean }) => p.name === "classic" && p.isDefault)),
  },
  {
    service: AcmeService,
    method: "UpdateAcmeProfile",
    request: async (fx) => ({ id: (await sharedProfile(fx)).id, description: "matrix" }),
    expect: EXPECT.admin(),
    check: (res) => assert.equal(res.profile.description, "matrix"),
  },
  {
    service: AcmeService,
    method: "DeleteAcmeProfile",
    request: async (fx) => ({ id: (await freshProfile(fx)).id }),
    expect: EXPECT.admin(),
  },
];
