import type { RaContext } from "./context.js";

/** Tokens, sessions, API keys and login throttling (work in progress). */
export class AuthManager {
  constructor(readonly ra: RaContext) {}
}
