import { EntitySchema, type Opt } from "@mikro-orm/core";
import type { AuditAction } from "../../core/types.js";
import { createdAtProperty, idProperty } from "./common.js";

/**
 * One audited change, written in the same transaction as the change itself.
 * Actor and organization are copied as plain values (not foreign keys) so the
 * entry reads the same whatever later happens to them.
 */
export class AuditLog {
  id!: string;
  createdAt!: Opt<Date>;
  action!: AuditAction;
  userId?: string | null;
  /** the actor's name at the time: a username, "service-account:<name>", "acme-account:<id>" or "system" */
  username!: string;
  organizationId?: string | null;
  resourceType!: string;
  resourceId?: string | null;
  detail: Opt<Record<string, unknown>> = {};
}

export const AuditLogSchema = new EntitySchema<AuditLog>({
  class: AuditLog,
  tableName: "audit_log",
  indexes: [
    { properties: ["createdAt"] },
    { properties: ["organizationId", "createdAt"] },
    { properties: ["action"] },
    // dns-persist-01's earlier-key read (Migration20261202185000AuditKeyChangeIndex)
    {
      name: "audit_log_acme_key_change_index",
      expression: `create index "audit_log_acme_key_change_index" on "audit_log" ("resource_id", "created_at") where "action" = 'acme_account_key_change'`,
    },
  ],
  properties: {
    id: idProperty,
    createdAt: createdAtProperty,
    action: { type: "string", length: 48 },
    userId: { type: "uuid", nullable: true },
    username: { type: "string", length: 255 },
    organizationId: { type: "uuid", nullable: true },
    resourceType: { type: "string", length: 48 },
    resourceId: { type: "string", length: 128, nullable: true },
    detail: { type: "json", default: "{}" },
  },
});
