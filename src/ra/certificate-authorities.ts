/**
 * CA lifecycle for the admin plane and bootstrap, one file per concept
 * under ./certificate-authorities/: create (root, intermediate), import,
 * read (get, list, children, chain), lifecycle (update, revoke, delete),
 * export (the private key). This module is their single entry point.
 */
export {
  creatorId,
  effectiveCaStatus,
  formatDn,
  visibleOrganization,
  type ExportedKey,
  type Page,
  type PrivateKeyExportFormat,
} from "./certificate-authorities/common.js";
export { createIntermediateCa, createRootCa, type CreateCaInput } from "./certificate-authorities/create.js";
export { importCa, type ImportCaInput } from "./certificate-authorities/import.js";
export { getCa, getCaChain, listCaChildren, listCas } from "./certificate-authorities/read.js";
export { deleteCa, revokeCa, updateCa, type UpdateCaInput } from "./certificate-authorities/lifecycle.js";
export { exportCaPrivateKey } from "./certificate-authorities/export.js";
export { activateIntermediateCa, createPendingIntermediateCa, importCaCrl, type ImportedCrl } from "./certificate-authorities/external-parent.js";
