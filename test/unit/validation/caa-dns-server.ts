/**
 * A tiny authoritative UDP DNS responder for CAA/TXT records (test only): it
 * answers with exactly the bytes a test gives, tags and values the real
 * resolver must map (src/validation/network.ts caaRecordOfNode). Unknown
 * names answer NXDOMAIN; answers over 512 octets set TC.
 */
import dgram from "node:dgram";

export interface Rr { type: "CAA"; flags: number; tag: string; value: Buffer | string }
export interface TxtRr { type: "TXT"; strings: (Buffer | string)[] }

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, "").split(".").filter(Boolean);
  const bufs = parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "ascii")]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

export async function startDns(zone: Record<string, (Rr | TxtRr)[]>): Promise<{ port: number; close: () => void }> {
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    const id = msg.readUInt16BE(0);
    // parse qname
    let off = 12;
    const labels: string[] = [];
    while (msg[off] !== 0) {
      const len = msg[off]!;
      labels.push(msg.subarray(off + 1, off + 1 + len).toString("ascii"));
      off += len + 1;
    }
    off += 1;
    const qtype = msg.readUInt16BE(off);
    const question = msg.subarray(12, off + 4);
    const qname = labels.join(".").toLowerCase();
    const rrs = zone[qname];
    const answers: Buffer[] = [];
    let rcode = 0;
    if (!rrs) rcode = 3; // NXDOMAIN
    else {
      for (const rr of rrs) {
        let rdata: Buffer;
        let type: number;
        if (rr.type === "CAA" && qtype === 257) {
          type = 257;
          const v = Buffer.isBuffer(rr.value) ? rr.value : Buffer.from(rr.value, "latin1");
          rdata = Buffer.concat([Buffer.from([rr.flags, rr.tag.length]), Buffer.from(rr.tag, "ascii"), v]);
        } else if (rr.type === "TXT" && qtype === 16) {
          type = 16;
          rdata = Buffer.concat(rr.strings.map((s) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s, "latin1"); return Buffer.concat([Buffer.from([b.length]), b]); }));
        } else continue;
        const head = Buffer.alloc(10);
        head.writeUInt16BE(type, 0); head.writeUInt16BE(1, 2); head.writeUInt32BE(60, 4); head.writeUInt16BE(rdata.length, 8);
        answers.push(Buffer.concat([Buffer.from([0xc0, 0x0c]), head, rdata]));
      }
    }
    const hdr = Buffer.alloc(12);
    hdr.writeUInt16BE(id, 0);
    hdr.writeUInt16BE(0x8400 | rcode, 2); // QR, AA
    hdr.writeUInt16BE(1, 4);
    hdr.writeUInt16BE(answers.length, 6);
    const out = Buffer.concat([hdr, question, ...answers]);
    if (out.length > 512) { hdr.writeUInt16BE(0x8600 | rcode, 2); sock.send(Buffer.concat([hdr.subarray(0,6), Buffer.from([0,0,0,0,0,0]), question]), rinfo.port, rinfo.address); return; }
    sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { port: (sock.address() as { port: number }).port, close: () => sock.close() };
}
export { encodeName };
