/**
 * Certificates as ORM entities, for the admin plane (which renders issuer,
 * organization and creator through the entity's relations).
 */
import { Certificate } from "../entities/index.js";
import { emOf, type Session } from "./session.js";

/** A certificate entity by id (it must exist: the caller just wrote or found it). */
export async function findCertificateEntity(s: Session, id: string): Promise<Certificate> {
  return emOf(s).findOneOrFail(Certificate, { id }, { populate: ["issuer", "organization"] });
}
