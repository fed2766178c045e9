/**
 * `npm run bench -- admin-protocols [--calls N]`: the latency and CPU of
 * one authenticated admin RPC (OrganizationService.GetOrganization: the
 * auth hook verifies the token, one indexed read) over each protocol
 * against one real server on PostgreSQL: on the gRPC port (one node:http2
 * server with connect-node) gRPC from grpc-js and from connect-node,
 * Connect JSON and binary and gRPC-Web over h2c; on the HTTPS listener
 * (connect-node, HTTP/1.1 keep-alive) Connect JSON, binary and gRPC-Web. Calls are
 * sequential (one caller), so the figures are per-call latency, not
 * throughput. Server and client share this process: CPU is both sides'.
 * Loopback only; bounded by --calls.
 */
import { cpuUsage } from "node:process";
import * as grpc from "@grpc/grpc-js";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { makeClient } from "../src/admin/grpc-adapter.js";
import { AuthService } from "../src/gen/sigil/admin/v1/auth_pb.js";
import { OrganizationService } from "../src/gen/sigil/admin/v1/organization_pb.js";
import { startTestServer, TEST_ADMIN_PASSWORD } from "../test/helpers/server.js";

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function run(args: string[]): Promise<void> {
  const i = args.indexOf("--calls");
  const calls = i >= 0 ? Number(args[i + 1]) : 2000;
  const server = await startTestServer({ embedded: false });
  try {
    const auth = makeClient(AuthService, `127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    const login = await auth.login({ username: "admin", password: TEST_ADMIN_PASSWORD });
    auth.close();
    const orgId = login.user!.organizationId;
    const headers = { authorization: `Bearer ${login.accessToken}` };
    const baseUrl = `https://127.0.0.1:${server.httpsPort}`;
    const grpcUrl = `http://127.0.0.1:${server.grpcPort}`;
    const nodeOptions = { rejectUnauthorized: false };
    const grpcClient = makeClient(OrganizationService, `127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    const viaConnect = (t: Transport) => {
      const c = createClient(OrganizationService, t);
      return () => c.getOrganization({ id: orgId }, { headers });
    };
    const cases: Array<[string, () => Promise<unknown>]> = [
      ["grpc (grpc-js, gRPC port)", () => grpcClient.getOrganization({ id: orgId }, { metadata: headers })],
      // the gRPC port is one http2 server with connect-node (src/admin/server.ts): every protocol over h2c
      ["grpc (connect-node, gRPC port)", viaConnect(createGrpcTransport({ baseUrl: grpcUrl }))],
      ["connect+json (gRPC port)", viaConnect(createConnectTransport({ baseUrl: grpcUrl, httpVersion: "2" }))],
      ["connect+proto (gRPC port)", viaConnect(createConnectTransport({ baseUrl: grpcUrl, httpVersion: "2", useBinaryFormat: true }))],
      ["grpc-web+proto (gRPC port)", viaConnect(createGrpcWebTransport({ baseUrl: grpcUrl, httpVersion: "2", useBinaryFormat: true }))],
      ["connect+json (HTTPS)", viaConnect(createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions }))],
      ["connect+proto (HTTPS)", viaConnect(createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions, useBinaryFormat: true }))],
      ["grpc-web+proto (HTTPS)", viaConnect(createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions, useBinaryFormat: true }))],
    ];
    console.log(`calls per protocol: ${calls} (sequential), after 200 warm-up calls`);
    for (const [name, call] of cases) {
      for (let k = 0; k < 200; k++) await call();
      const times: number[] = [];
      const cpu0 = cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < calls; k++) {
        const s = process.hrtime.bigint();
        await call();
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = cpuUsage(cpu0);
      times.sort((a, b) => a - b);
      const cpuPerCall = (cpu.user + cpu.system) / 1000 / calls;
      console.log(
        `${name.padEnd(31)} p50 ${pct(times, 50).toFixed(2)} ms  p90 ${pct(times, 90).toFixed(2)} ms  p99 ${pct(times, 99).toFixed(2)} ms  ` +
          `${(calls / wall).toFixed(0)} calls/s  CPU ${cpuPerCall.toFixed(3)} ms/call (server+client)`,
      );
    }
    grpcClient.close();
  } finally {
    await server.stop();
  }
}
