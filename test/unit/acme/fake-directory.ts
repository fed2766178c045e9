/** The ACME directory the transport unit tests serve (no database behind it). */
import type { DirectoryInfo } from "../../../src/acme/ra-port.js";

export function fakeDirectory(overrides: Partial<DirectoryInfo> = {}): DirectoryInfo {
  return {
    id: "00000000-0000-7000-8000-00000000d001",
    name: "fake",
    organizationId: "00000000-0000-7000-8000-00000000e001",
    caId: "00000000-0000-7000-8000-00000000c001",
    eabRequired: false,
    allowedDnsSuffixes: [],
    allowedIpRanges: [],
    challengeTypes: ["http-01"],
    maxValidityDays: 90,
    certificateKind: "server",
    termsOfServiceUrl: "https://example.test/tos",
    websiteUrl: null,
    caaIdentities: [],
    validationAllowedNetworks: [],
    caaEnabled: false,
    ...overrides,
  };
}
