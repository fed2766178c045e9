/** RFC 8555 §7.6 revokeCert: by the ordering account (kid) or the certificate key (jwk). */
import type Router from "@koa/router";
import { decodeRevokeCert } from "../payloads.js";
import type { RevocationAuth } from "../ra-port.js";
import { postEither, type AcmeRouteDeps } from "./kit.js";

export function revocationRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { ra } = deps;
  postEither(router, deps, "/revoke-cert", async (ctx, st) => {
    const p = decodeRevokeCert(st.body);
    // §7.6: by the account (kid) or by the certificate's key (jwk, already verified as st.key)
    const auth: RevocationAuth = st.by === "kid" ? { kind: "account", account: st.account } : { kind: "certKey", publicKey: st.key };
    await ra.revokeCertificate(st.dir, auth, p.certificate, p.reason);
    ctx.status = 200;
    ctx.body = "";
  });
}
