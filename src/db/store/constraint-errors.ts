/**
 * Constraint violations as the storage layer reports them, so ra/ can turn
 * them into its own errors without knowing the ORM's exception classes.
 */
import { UniqueConstraintViolationException } from "@mikro-orm/core";

/** PostgreSQL SQLSTATE unique_violation (raw statements report it on the driver error) */
const UNIQUE_VIOLATION = "23505";

/** Whether `e` is a unique-constraint violation (from the ORM or from a raw statement). */
export function isUniqueViolation(e: unknown): boolean {
  if (e instanceof UniqueConstraintViolationException) return true;
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === UNIQUE_VIOLATION;
}
