/**
 * src/http-dispatch.ts compileRoutes against @koa/router's own routes(): the
 * same app built twice (a router shaped like the ACME one: prefix
 * /acme/:directory, GET/HEAD/POST routes, per-path `all` fallbacks answering
 * 405, a catch-all, a route whose chain falls through with next(), behind a
 * health router with allowedMethods) must answer every request of a matrix
 * of methods and paths with the same status, headers and body, and show the
 * handlers the same params and matched route.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import Koa, { type Context, type Middleware } from "koa";
import { compileRoutes, composeOnce, isCompilable } from "../../src/http-dispatch.js";

/** what a handler saw, echoed in the body */
function seen(ctx: Context, what: string): void {
  const c = ctx as unknown as { _matchedRoute?: string; routerPath?: string; params?: Record<string, string> };
  ctx.body = { what, route: c._matchedRoute, routerPath: c.routerPath, params: c.params, state: ctx.state.trail };
}

function buildRouters(): Router[] {
  const health = new Router();
  health.get("/healthz", (ctx) => seen(ctx, "healthz"));
  const acme = new Router({ prefix: "/acme/:directory" });
  const edge: Middleware = async (ctx, next) => {
    ctx.set("Replay-Nonce", "n");
    ctx.state.trail = [...((ctx.state.trail as string[]) ?? []), "edge"];
    try {
      await next();
    } catch (e) {
      ctx.status = 400;
      ctx.type = "application/problem+json";
      ctx.body = { detail: (e as Error).message };
    }
  };
  acme.get("/directory", edge, (ctx) => seen(ctx, "directory"));
  acme.head("/new-nonce", edge, (ctx) => {
    ctx.status = 200;
  });
  acme.get("/new-nonce", edge, (ctx) => {
    ctx.status = 204;
  });
  acme.post("/order/:id", edge, (ctx) => seen(ctx, "order"));
  acme.post("/order/:id/finalize", edge, (ctx) => seen(ctx, "finalize"));
  acme.post("/throws", edge, () => {
    throw new Error("boom");
  });
  // a chain that passes the request on: the next matching layer (the 405 fallback) answers
  acme.post("/passes/:id", async (ctx, next) => {
    ctx.state.trail = ["passed"];
    await next();
  });
  acme.get("/renewal-info/:certID", edge, (ctx) => seen(ctx, "renewal-info"));
  for (const [p, allow] of [
    ["/directory", "GET, HEAD"],
    ["/new-nonce", "GET, HEAD"],
    ["/order/:id", "POST"],
    ["/order/:id/finalize", "POST"],
    ["/passes/:id", "POST"],
  ] as const) {
    acme.all(p, edge, (ctx) => {
      ctx.set("Allow", allow);
      ctx.status = 405;
      seen(ctx, "405");
    });
  }
  acme.all("/{*rest}", edge, (ctx) => {
    ctx.status = 404;
    seen(ctx, "catch-all");
  });
  // a router with a use() layer: compileRoutes leaves it to routes()
  const pub = new Router();
  pub.use(async (ctx, next) => {
    ctx.set("X-Public", "1");
    await next();
  });
  pub.get("/crl/:id", (ctx) => seen(ctx, "crl"));
  return [health, acme, pub];
}

function buildApp(compiled: boolean): Koa {
  const app = new Koa();
  for (const r of buildRouters()) {
    app.use(compiled ? compileRoutes(r) : (r.routes() as unknown as Middleware));
    app.use(r.allowedMethods() as unknown as Middleware);
  }
  return app;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(port: number, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const headers = { ...res.headers };
        delete headers.date;
        delete headers.connection;
        delete headers["keep-alive"];
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

async function listen(app: Koa): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"];
const PATHS = [
  "/acme/default/directory",
  "/acme/default/directory/",
  "/ACME/Default/DIRECTORY",
  "/acme/default/new-nonce",
  "/acme/default/order/abc",
  "/acme/default/Order/abc",
  "/acme/default/order/abc/finalize",
  "/acme/default/order/a%20b/finalize",
  "/acme/default/order/",
  "/acme/default/order",
  "/acme/default/throws",
  "/acme/default/passes/x",
  "/acme/default/renewal-info/aa.bb",
  "/acme/d%C3%A9faut/directory",
  "/acme/default//directory",
  "/acme/default/",
  "/acme/default",
  "/acme/",
  "/acme",
  "/acme/default/nothing/here",
  "/acme/default/directory?x=1",
  "/healthz",
  "/crl/1",
  "/elsewhere",
];

describe("compileRoutes (src/http-dispatch.ts)", () => {
  let plain: Awaited<ReturnType<typeof listen>>;
  let fast: Awaited<ReturnType<typeof listen>>;
  before(async () => {
    plain = await listen(buildApp(false));
    fast = await listen(buildApp(true));
  });
  after(async () => {
    await plain.close();
    await fast.close();
  });

  it("answers every method and path exactly as the router's routes() does", async () => {
    let answered = 0;
    for (const method of METHODS) {
      for (const path of PATHS) {
        const [a, b] = [await request(plain.port, method, path), await request(fast.port, method, path)];
        assert.deepEqual(b, a, `${method} ${path}`);
        answered++;
      }
    }
    assert.equal(answered, METHODS.length * PATHS.length);
  });

  it("takes over the dispatch of the prefixed router only (the health router and the one with use() keep routes())", () => {
    assert.deepEqual(buildRouters().map(isCompilable), [false, true, false]);
  });

  it("gives the handler the matched route template and its decoded params", async () => {
    const a = await request(fast.port, "POST", "/acme/default/order/a%20b/finalize");
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.body), {
      what: "finalize",
      route: "/acme/:directory/order/:id/finalize",
      routerPath: "/acme/:directory/order/:id/finalize",
      params: { directory: "default", id: "a b" },
      state: ["edge"],
    });
  });

  it("runs the next matching layer when a chain calls next(), as the router does", async () => {
    const a = await request(fast.port, "POST", "/acme/default/passes/x");
    assert.equal(a.status, 405);
    assert.equal(a.headers.allow, "POST");
    assert.deepEqual(JSON.parse(a.body).state, ["passed", "edge"]);
  });

  it("composeOnce refuses a second next() from one middleware", async () => {
    const run = composeOnce([
      async (_ctx, next) => {
        await next();
        await next();
      },
    ]);
    await assert.rejects(run({} as Context, async () => undefined), /next\(\) called multiple times/);
  });
});
