/**
 * The one URL builder for ACME (RFC 8555 §7.1). Every URL a client sees or
 * signs (the JWS `url`, §6.4) comes from here, built from SIGIL_PUBLIC_URL,
 * so the url check works behind proxies.
 */
export class Linker {
  readonly base: string;
  constructor(publicUrl: string) {
    this.base = publicUrl.replace(/\/+$/, "");
  }
  root(dir: string): string {
    return `${this.base}/acme/${encodeURIComponent(dir)}`;
  }
  directory(dir: string): string {
    return `${this.root(dir)}/directory`;
  }
  newNonce(dir: string): string {
    return `${this.root(dir)}/new-nonce`;
  }
  newAccount(dir: string): string {
    return `${this.root(dir)}/new-account`;
  }
  newOrder(dir: string): string {
    return `${this.root(dir)}/new-order`;
  }
  revokeCert(dir: string): string {
    return `${this.root(dir)}/revoke-cert`;
  }
  keyChange(dir: string): string {
    return `${this.root(dir)}/key-change`;
  }
  /** RFC 9773 §3 the renewalInfo resource; a certificate's is `{renewalInfo}/{certID}` (§4.1) */
  renewalInfo(dir: string): string {
    return `${this.root(dir)}/renewal-info`;
  }
  account(dir: string, id: string): string {
    return `${this.root(dir)}/acct/${id}`;
  }
  orders(dir: string, accountId: string, cursor?: string): string {
    return `${this.root(dir)}/acct/${accountId}/orders${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`;
  }
  order(dir: string, id: string): string {
    return `${this.root(dir)}/order/${id}`;
  }
  finalize(dir: string, orderId: string): string {
    return `${this.root(dir)}/order/${orderId}/finalize`;
  }
  authz(dir: string, id: string): string {
    return `${this.root(dir)}/authz/${id}`;
  }
  challenge(dir: string, id: string): string {
    return `${this.root(dir)}/chall/${id}`;
  }
  certificate(dir: string, id: string): string {
    return `${this.root(dir)}/cert/${id}`;
  }
  /** the external URL of a request path (+ query) as the client addressed it */
  requestUrl(pathAndQuery: string): string {
    return `${this.base}${pathAndQuery}`;
  }
  /** the account id in a `kid` URL of this directory, or undefined (RFC 8555 §6.2) */
  accountIdFromKid(dir: string, kid: string): string | undefined {
    const prefix = `${this.root(dir)}/acct/`;
    if (!kid.startsWith(prefix)) return undefined;
    const id = kid.slice(prefix.length);
    return UUID.test(id) ? id : undefined;
  }
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
