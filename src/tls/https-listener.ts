/**
 * The HTTPS listener (RFC 8555 §6.1: ACME runs over HTTPS): node:https with
 * TLS 1.2 as the floor, serving the certificate of a ListenerCertificateSource.
 * A new certificate is swapped in with server.setSecureContext: connections
 * made afterwards get it, open ones keep theirs, nothing restarts. SIGHUP
 * asks the source to reload (files re-read, or the self-issued one renewed
 * when due).
 */
import https from "node:https";
import type { RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger.js";
import { secureContextOptions, type ListenerCertificateSource } from "./material.js";

export interface HttpsListener {
  server: https.Server;
  port: number;
  certificates: ListenerCertificateSource;
  /** stops listening, the reload hook and the certificate source */
  close(): Promise<void>;
}

export interface HttpsListenerOptions {
  handler: RequestListener;
  host: string;
  port: number;
  certificates: ListenerCertificateSource;
  logger: Logger;
  /** reload on SIGHUP (default true; the signal then no longer ends the process) */
  reloadOnSighup?: boolean;
}

export async function startHttpsListener(opts: HttpsListenerOptions): Promise<HttpsListener> {
  const { certificates, logger } = opts;
  const server = https.createServer(
    {
      ...secureContextOptions(certificates.current()),
      // ACME clients speak HTTP/1.1 over TLS; say so in ALPN (RFC 7301)
      ALPNProtocols: ["http/1.1"],
    },
    opts.handler,
  );
  certificates.onChange((m) => server.setSecureContext(secureContextOptions(m)));
  // handshake failures (scanners, clients that do not trust the root) are the client's problem: debug only
  server.on("tlsClientError", (err) => logger.debug({ error: err.message }, "TLS handshake failed"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const onSighup = () => {
    void certificates.reload("SIGHUP");
  };
  if (opts.reloadOnSighup ?? true) process.on("SIGHUP", onSighup);
  certificates.start();
  return {
    server,
    port: (server.address() as AddressInfo).port,
    certificates,
    async close() {
      process.off("SIGHUP", onSighup);
      await certificates.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
      });
    },
  };
}
