/** RFC 8555 §7.5 authorizations (read, §7.5.2 deactivation) and §7.5.1 challenges. */
import type Router from "@koa/router";
import type { ChallengeInfo } from "../ra-port.js";
import { decodeAuthzUpdate, decodeChallengeResponse } from "../payloads.js";
import { authzJson, challengeJson } from "../wire.js";
import { idParam, json, postKid, RETRY_AFTER_SECONDS, type AcmeRouteDeps } from "./kit.js";

export function authorizationRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { ra, linker } = deps;

  // §7.5 authorization (POST-as-GET), §7.5.2 deactivation
  postKid(router, deps, "/authz/:id", async (ctx, st) => {
    const id = idParam(ctx);
    const update = decodeAuthzUpdate(st.body);
    // a read uses the authorization read with the nonce and the account (one round trip, src/db/store/nonces.ts)
    const authz = update ? await ra.deactivateAuthz(st.account, id) : await ra.getAuthz(st.account, id, st.prefetchedAuthz);
    if (authz.status === "pending") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
    json(ctx, 200, authzJson(linker, st.dir.name, authz, st.dir));
  }, { readAhead: { authorization: true } });

  // §7.5.1 challenge: POST {} starts validation (once) and answers with its
  // outcome when it comes within answerWithinMs, else processing; POST-as-GET reads it
  postKid(router, deps, "/chall/:id", async (ctx, st) => {
    const id = idParam(ctx);
    let challenge: ChallengeInfo;
    if (decodeChallengeResponse(st.body) === "read") challenge = await ra.getChallenge(st.account, id);
    else {
      const r = await ra.startChallenge(st.account, id, st.dir);
      const outcome = r.started ? await ra.validations.scheduleAndWait(id, r.job) : false;
      challenge = outcome === false ? r.challenge : outcome === true ? await ra.getChallenge(st.account, id) : outcome;
    }
    ctx.append("Link", `<${linker.authz(st.dir.name, challenge.authorizationId)}>;rel="up"`);
    if (challenge.status === "processing") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
    json(ctx, 200, challengeJson(linker, st.dir.name, challenge, st.dir));
  });
}
