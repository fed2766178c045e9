import assert from "node:assert/strict";
import { systemActor } from "../../../src/ra/actor.js";
import { AuditLogWriter } from "../../../src/ra/audit.js";
import * as auditQuery from "../../../src/ra/audit-query.js";
import type { RaContext } from "../../../src/ra/context.js";

describe("AuditService.Watch backlog (src/ra/audit-query.ts)", () => {
  it("a watcher that stops reading holds a bounded backlog and is ended with RESOURCE_EXHAUSTED", async () => {
    const limit = (auditQuery as { WATCH_BACKLOG_LIMIT?: number }).WATCH_BACKLOG_LIMIT;
    assert.equal(typeof limit, "number", "WATCH_BACKLOG_LIMIT is exported");
    const audit = new AuditLogWriter();
    const ctx = { audit } as unknown as RaContext;
    const controller = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let delivered = 0;
    const watching = auditQuery.watchAuditEvents(ctx, systemActor(), {}, controller.signal, async () => {
      delivered++;
      await gate; // the client stopped reading: the first send never completes
    });
    const row = (i: number) => audit.row(systemActor(), { action: "org_update", organizationId: null, resourceType: "organization", resourceId: String(i) });
    for (let i = 0; i < limit! + 10; i++) audit.published([row(i)]);
    release();
    await assert.rejects(watching, (e: { kind?: string }) => e.kind === "resourceExhausted");
    assert.ok(delivered <= 1, `delivered ${delivered}`);
    controller.abort();
  });
});
