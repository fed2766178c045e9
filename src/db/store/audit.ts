/**
 * The audit_log table: entries are written in the transaction of the change
 * they record (ORM transactions persist the entity; raw-SQL transactions
 * queue the row, which goes out with a later statement or just before
 * COMMIT). Reading and filtering the log lives in audit-query.ts.
 */
import { AuditLog } from "../entities/index.js";
import { auditEntity, AUDIT_INSERT, auditRowsParam, type AuditRow } from "./audit-sql.js";
import { emOf, isSqlTx, queueAudit, sqlOf, type Session, type TxSession } from "./session.js";

export { AUDIT_COLUMNS, auditEntity, auditInsertSql, auditRowsParam, type AuditRow } from "./audit-sql.js";

/**
 * Records an entry in a transaction: persisted with an ORM transaction's
 * flush, or queued in a raw-SQL transaction (takeQueuedAudit / COMMIT).
 */
export function recordAudit(tx: TxSession, row: AuditRow): AuditLog {
  const entity = auditEntity(row);
  if (isSqlTx(tx)) {
    queueAudit(tx, entity);
    return entity;
  }
  const em = emOf(tx);
  const managed = em.create(AuditLog, entity);
  em.persist(managed);
  return managed;
}

/** Inserts entries now, on any session. */
export async function insertAudit(s: Session, rows: readonly AuditRow[]): Promise<void> {
  if (rows.length) await sqlOf(s).query(AUDIT_INSERT, [auditRowsParam(rows)]);
}
