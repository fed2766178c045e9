/**
 * `COPY (query) TO STDOUT` on a pg connection, each CopyData message handed
 * to a callback as it arrives (PostgreSQL sends one per row). Nothing is
 * collected: a caller that encodes row by row works while the server is still
 * producing the next rows, and no result is ever held as one message (a
 * 46 MB DataRow costs the driver buffer merges and a UTF-8 decode).
 *
 * COPY takes no bind parameters (PostgreSQL refuses them for utility
 * statements), so the caller inlines its literals and must validate them.
 * The chunk is a view into the driver's read buffer: valid only during the
 * call. An exception thrown by the callback does not break the protocol
 * exchange: the remaining rows are drained, then the promise rejects with it
 * (the connection stays usable and the caller's transaction rolls back).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const pg = require("pg") as { Query: new (config: object) => object };

interface CopyTarget {
  query(q: object): unknown;
}

class CopyOutQuery extends (pg.Query as unknown as new (config: object) => object) {
  failure: unknown;
  callback?: (err: unknown) => void;
  constructor(
    text: string,
    private readonly onData: (chunk: Buffer) => void,
  ) {
    // the simple query protocol: COPY is one statement without parameters
    super({ text });
  }

  /** pg calls this for every CopyData message of the active query */
  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.failure !== undefined) return;
    try {
      this.onData(msg.chunk);
    } catch (e) {
      this.failure = e ?? new Error("COPY consumer failed");
    }
  }
}

/** Runs `text` (a COPY ... TO STDOUT) on `client`; resolves once the server completed it. */
export function copyOut(client: unknown, text: string, onData: (chunk: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const q = new CopyOutQuery(text, onData);
    // a submittable gets no promise from client.query: pg calls its callback after ReadyForQuery
    q.callback = (err) => (err ? reject(err) : q.failure !== undefined ? reject(q.failure) : resolve());
    (client as CopyTarget).query(q);
  });
}
