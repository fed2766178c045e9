/**
 * How the metrics hear about what happened without the layers that act
 * knowing about Prometheus: the ACME operation a request was (from the
 * router's matched route template), committed certificate issuance and
 * revocation (from the audit entries published after their commit, so a
 * rolled-back transaction counts nothing), and challenge validations (a
 * decorator around the injected validator).
 */
import type { AuditLog } from "../db/entities/index.js";
import type { ChallengeValidator } from "../validation/types.js";
import type { AcmeOperation, SigilMetrics } from "./registry.js";

/** the operation an ACME request was, by method and route template (RFC 8555 §7.3, §7.4, §7.5.1, §7.6) */
export function acmeOperationOf(method: string, route: string, postAsGet: boolean): AcmeOperation | undefined {
  if (method !== "POST" || !route.startsWith("/acme/")) return undefined;
  if (route.endsWith("/new-account")) return "newAccount";
  if (route.endsWith("/new-order")) return "newOrder";
  if (route.endsWith("/order/:id/finalize")) return "finalize";
  if (route.endsWith("/revoke-cert")) return "revoke";
  // §7.5.1: POST {} responds to the challenge; POST-as-GET only reads it
  if (route.endsWith("/chall/:id")) return postAsGet ? undefined : "challenge";
  return undefined;
}

/** RFC 8555 §6.7 type of a problem document body without its urn prefix ("" when none) */
export function problemTypeOf(body: unknown): string {
  if (typeof body !== "object" || body === null) return "";
  const type = (body as { type?: unknown }).type;
  if (typeof type !== "string") return "";
  return type.startsWith("urn:ietf:params:acme:error:") ? type.slice("urn:ietf:params:acme:error:".length) : "other";
}

/** Counts issued and revoked certificates from committed audit entries; returns the unsubscribe function. */
export function observeAudit(audit: { subscribe(l: (entry: AuditLog) => void): () => void }, metrics: SigilMetrics): () => void {
  return audit.subscribe((entry) => {
    const detail = (entry.detail ?? {}) as Record<string, unknown>;
    const ca = typeof detail.issuerId === "string" ? detail.issuerId : "unknown";
    switch (entry.action) {
      case "cert_create":
      case "cert_renew": {
        const source = detail.purpose === "ocsp_signing" ? "ocsp_signer" : typeof detail.source === "string" ? detail.source : "unknown";
        metrics.certificatesIssued.inc({ ca, source });
        break;
      }
      case "cert_revoke":
      case "ca_revoke":
        metrics.certificatesRevoked.inc({ ca, source: "admin" });
        break;
      case "acme_cert_revoke":
        metrics.certificatesRevoked.inc({ ca, source: "acme" });
        break;
      default:
        break;
    }
  });
}

/** The validator, timing each validation and counting its result (valid, or the invalid outcome's problem type). */
export function instrumentValidator(validator: ChallengeValidator, metrics: SigilMetrics): ChallengeValidator {
  return {
    async validate(req, signal, options) {
      const start = process.hrtime.bigint();
      let result = "error";
      try {
        const outcome = await validator.validate(req, signal, options);
        result = outcome.status === "valid" ? "valid" : outcome.status === "deferred" ? "deferred" : outcome.error.type;
        return outcome;
      } finally {
        metrics.validation(req.type, result, Number(process.hrtime.bigint() - start) / 1e9);
      }
    },
    // RFC 8659 CAA checks count as validations of type "caa" (result: valid, caa = refused by the records, dns = lookup failed)
    checkCaa: validator.checkCaa
      ? async (req, signal) => {
          const start = process.hrtime.bigint();
          let result = "error";
          try {
            const outcome = await validator.checkCaa!(req, signal);
            result = outcome.status === "valid" ? "valid" : outcome.error.type;
            return outcome;
          } finally {
            metrics.validation("caa", result, Number(process.hrtime.bigint() - start) / 1e9);
          }
        }
      : undefined,
  };
}

/**
 * Counts one OCSP answer by RFC 6960 response status and how it was made:
 * "not_modified" (HTTP 304, the relying party's copy was current), "hit"
 * (the whole response from the responder's cache) or "miss" (built now).
 */
export function countOcspResponse(state: { metrics?: SigilMetrics }, status: string, httpStatus: number, cached = false): void {
  state.metrics?.ocspResponse(status, httpStatus === 304 ? "not_modified" : cached ? "hit" : "miss");
}
