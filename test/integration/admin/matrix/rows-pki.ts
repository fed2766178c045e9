/**
 * Permission-matrix rows of CertificateAuthorityService, CertificateService
 * and AcmeService. Owned by the engineer implementing those services
 * (admin-B): this placeholder (created by admin-A so the matrix compiles)
 * is empty, so the matrix's "covers every RPC" test fails until the rows
 * are here. Replace it freely. See types.ts for MatrixRow and EXPECT.
 */
import type { MatrixRow } from "./types.js";

export const pkiRows: MatrixRow[] = [];
