import type { Capability, UserRole } from "../core/types.js";

/**
 * Who is acting: every ra/ call takes one, the permission rule reads it and
 * the audit log records it.
 */
export type Actor =
  | {
      kind: "user";
      id: string;
      name: string;
      role: UserRole;
      organizationId: string | null;
      capabilities: ReadonlySet<Capability>;
    }
  | {
      kind: "serviceAccount";
      id: string;
      name: string;
      organizationId: string;
      capabilities: ReadonlySet<Capability>;
      /**
       * The scopes of the credential it authenticated with (API key or
       * public key, src/policy/scopes.ts): they further restrict the
       * capabilities, checked for every RPC by authorizeRpc
       * (src/policy/permissions.ts). Absent: unrestricted.
       */
      scopes?: readonly string[];
    }
  | { kind: "acmeAccount"; id: string; organizationId: string; directoryId: string }
  | { kind: "system"; name: string };

/** The server itself (bootstrap, periodic jobs). */
export function systemActor(name = "system"): Actor {
  return { kind: "system", name };
}

/** How the actor appears in audit entries. */
export function actorAuditFields(actor: Actor): { userId: string | null; username: string } {
  switch (actor.kind) {
    case "user":
      return { userId: actor.id, username: actor.name };
    case "serviceAccount":
      return { userId: actor.id, username: `service-account:${actor.name}` };
    case "acmeAccount":
      return { userId: null, username: `acme-account:${actor.id}` };
    case "system":
      return { userId: null, username: actor.name };
  }
}

/** The actor as recorded on rows it changed (e.g. revoked_by_name): "user:alice", "service-account:ci", "acme-account:<id>" or the system name. */
export function actorDisplayName(actor: Actor): string {
  switch (actor.kind) {
    case "user":
      return `user:${actor.name}`;
    case "serviceAccount":
      return `service-account:${actor.name}`;
    case "acmeAccount":
      return `acme-account:${actor.id}`;
    case "system":
      return actor.name;
  }
}
