/**
 * A tiny authoritative DNS stub on UDP for the benchmark: every A query
 * answers 127.0.0.1, every other type answers NOERROR with no records (so
 * AAAA lookups end quickly with ENODATA). Enough for http-01 validation of
 * any benchmark name; nothing more.
 */
import dgram from "node:dgram";
import type { AddressInfo } from "node:net";

export interface DnsStub {
  /** "127.0.0.1:PORT" for SIGIL_DNS_SERVERS */
  address: string;
  queries: number;
  close(): Promise<void>;
}

const TYPE_A = 1;

export async function startDnsStub(): Promise<DnsStub> {
  const sock = dgram.createSocket("udp4");
  const stub = { queries: 0 } as DnsStub;
  sock.on("message", (msg, rinfo) => {
    stub.queries++;
    const reply = answer(msg);
    if (reply) sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
  stub.address = `127.0.0.1:${(sock.address() as AddressInfo).port}`;
  stub.close = () => new Promise<void>((resolve) => sock.close(() => resolve()));
  return stub;
}

/** RFC 1035 §4.1: header, the question echoed, one A answer (name pointer to the question) */
function answer(q: Buffer): Buffer | undefined {
  if (q.length < 12 || q.readUInt16BE(4) !== 1) return undefined;
  // walk the QNAME labels
  let off = 12;
  while (off < q.length && q[off] !== 0) off += q[off]! + 1;
  off += 1;
  if (off + 4 > q.length) return undefined;
  const qtype = q.readUInt16BE(off);
  const question = q.subarray(12, off + 4);
  const isA = qtype === TYPE_A;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.readUInt16BE(0), 0); // id
  const rd = q.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080, 2); // QR, AA, RD copied, RA; RCODE 0
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(isA ? 1 : 0, 6); // ANCOUNT
  if (!isA) return Buffer.concat([header, question]);
  const rr = Buffer.from([0xc0, 0x0c, 0, TYPE_A, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
  return Buffer.concat([header, question, rr]);
}
