/**
 * A router's `routes()` middleware with the per-request work moved to build
 * time (issue 11, the HTTP path). @koa/router's dispatch tests every layer's
 * regular expression against the path (the ACME router has ~45 layers, all
 * of them fallbacks included), then builds and composes the matched layers'
 * middleware chain anew for every request. Here each layer's chain is
 * composed once, the layers are bucketed by the first literal segment after
 * the router's prefix (`/acme/:directory/<segment>/...`), and only the
 * candidates of that bucket are tested, in registration order, lazily: the
 * next matching layer is looked for only when a chain calls `next()` past its
 * end, which is exactly when the router would have run it.
 *
 * What the handlers see is what `routes()` gives them: `ctx.params`,
 * `ctx.captures`, `ctx.routerPath`, `ctx._matchedRoute` (the metrics label)
 * from the same Layer methods, and `ctx.matched` (the input of the other
 * routers' `allowedMethods()`, which may turn a 404 into 405/501 or answer
 * OPTIONS) with the same layers, filled in when it can matter: before a
 * chain falls through to the next app middleware, and when the answer is
 * 404 or not set yet. Anything this does not handle exactly (no route layer
 * matches, a router with `use()` middleware layers, a host filter, an
 * exclusive router, a prefix that is not `<literal>/:param`) goes to the
 * router's own `routes()` unchanged.
 */
import type Router from "@koa/router";
import type { Layer } from "@koa/router";
import type { Context, Middleware, Next } from "koa";

type Fn = (ctx: Context, next: Next) => unknown;

/** koa-compose's semantics (a promise per step, `next()` at most once per step), composed once */
export function composeOnce(stack: readonly Fn[]): (ctx: Context, next: Next) => Promise<unknown> {
  return (ctx, next) => {
    let index = -1;
    const dispatch = (i: number): Promise<unknown> => {
      if (i <= index) return Promise.reject(new Error("next() called multiple times"));
      index = i;
      const fn = i === stack.length ? next : stack[i];
      if (!fn) return Promise.resolve();
      try {
        return Promise.resolve(fn(ctx, () => dispatch(i + 1)));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return dispatch(0);
  };
}

interface CompiledLayer {
  layer: Layer;
  methods: ReadonlySet<string>;
  run: (ctx: Context, next: Next) => Promise<unknown>;
}

/** the router fields `routes()` reads or writes on the context */
interface RoutedContext {
  matched?: Layer[];
  router?: Router;
  routeMatched?: boolean;
  captures?: string[];
  params?: Record<string, string>;
  routerPath?: string;
  routerName?: string;
  newRouterPath?: string;
  _matchedRoute?: string;
  _matchedRouteName?: string;
}

/** the literal first segment of a layer path after the prefix ("" for a parameter, a wildcard or an optional part) */
function literalSegment(rest: string): string {
  const m = /^\/([A-Za-z0-9._~-]+)(?:\/|$)/.exec(rest);
  return m ? m[1]!.toLowerCase() : "";
}

interface RouterOpts {
  prefix?: string;
  sensitive?: boolean;
  exclusive?: boolean | string;
  routerPath?: string;
  host?: unknown;
}

/** `<literal>/:param` (e.g. /acme/:directory): the literal and one path segment, then the route's own first segment */
const PREFIX_SHAPE = /^(\/[A-Za-z0-9._~/-]*\/):[A-Za-z_$][A-Za-z0-9_$]*$/;

function compilablePrefix(router: Router): RegExpExecArray | undefined {
  const opts = router.opts as RouterOpts;
  const shape = PREFIX_SHAPE.exec(opts.prefix ?? "");
  if (!shape || opts.exclusive || opts.host !== undefined || opts.routerPath || (router.stack as Layer[]).some((l) => l.methods.length === 0)) return undefined;
  return shape;
}

/** whether compileRoutes takes the router's dispatch over (else it returns the router's routes()) */
export function isCompilable(router: Router): boolean {
  return compilablePrefix(router) !== undefined;
}

/**
 * `routes()` of `router`, compiled (see the file comment); call it once the
 * routes are registered: routes added afterwards are not seen.
 */
export function compileRoutes(router: Router): Middleware {
  const fallback = router.routes() as unknown as Middleware;
  const prefixShape = compilablePrefix(router);
  if (!prefixShape) return fallback;
  const opts = router.opts as RouterOpts;
  const layers = router.stack as Layer[];
  const prefix = opts.prefix!;
  const sensitive = opts.sensitive === true;
  const lead = sensitive ? prefixShape[1]! : prefixShape[1]!.toLowerCase();
  const compiled: CompiledLayer[] = layers.map((layer) => ({ layer, methods: new Set(layer.methods), run: composeOnce(layer.stack as Fn[]) }));
  // per literal segment, the layers that may match a path with it there, in registration order
  const anySegment: CompiledLayer[] = [];
  const bySegment = new Map<string, CompiledLayer[]>();
  const segmentOf = new Map<CompiledLayer, string>();
  for (const c of compiled) {
    const path = typeof c.layer.path === "string" ? c.layer.path : "";
    const seg = path.startsWith(prefix) ? literalSegment(path.slice(prefix.length)) : "";
    segmentOf.set(c, seg);
    if (seg !== "" && !bySegment.has(seg)) bySegment.set(seg, []);
  }
  for (const c of compiled) {
    const seg = segmentOf.get(c)!;
    if (seg === "") {
      anySegment.push(c);
      for (const list of bySegment.values()) list.push(c);
    } else bySegment.get(seg)!.push(c);
  }

  /** the candidates for a request path, or undefined when it is outside the prefix (the router's own dispatch decides) */
  const candidatesOf = (path: string): CompiledLayer[] | undefined => {
    if (path.length < lead.length || (sensitive ? !path.startsWith(lead) : path.slice(0, lead.length).toLowerCase() !== lead)) return undefined;
    const afterParam = path.indexOf("/", lead.length);
    if (afterParam < 0) return anySegment;
    const end = path.indexOf("/", afterParam + 1);
    const seg = path.slice(afterParam + 1, end < 0 ? undefined : end);
    return bySegment.get(sensitive ? seg : seg.toLowerCase()) ?? anySegment;
  };

  const find = (list: CompiledLayer[], from: number, path: string, method: string): number => {
    for (let i = from; i < list.length; i++) {
      const c = list[i]!;
      if (c.methods.has(method) && c.layer.match(path)) return i;
    }
    return -1;
  };

  return (ctx: Context, next: Next) => {
    const rc = ctx as unknown as RoutedContext;
    const path = rc.newRouterPath || ctx.path || rc.routerPath || "";
    const list = candidatesOf(path);
    const method = ctx.method.toUpperCase();
    const first = list ? find(list, 0, path, method) : -1;
    if (first < 0) return fallback(ctx, next);
    rc.router = router;
    rc.routeMatched = true;
    let matchedStored = false;
    // what routes() stores before it runs the chain: every layer whose path matches, whatever the method
    const storeMatched = () => {
      if (matchedStored) return;
      matchedStored = true;
      const all = router.match(path, method).path;
      if (rc.matched) rc.matched.push(...all);
      else rc.matched = all;
    };
    const runFrom = (i: number): Promise<unknown> => {
      const c = list![i]!;
      const layer = c.layer;
      rc.captures = layer.captures(path);
      rc.params = layer.params(path, rc.captures ?? [], rc.params);
      (ctx.request as unknown as RoutedContext).params = rc.params;
      rc.routerPath = layer.path as string;
      rc.routerName = layer.name || undefined;
      rc._matchedRoute = layer.path as string;
      if (layer.name) rc._matchedRouteName = layer.name;
      return c.run(ctx, () => {
        const j = find(list!, i + 1, path, method);
        if (j >= 0) return runFrom(j);
        storeMatched();
        return next();
      });
    };
    // allowedMethods() of the routers before this one reads ctx.matched once the answer is 404 (or unset)
    const settle = () => {
      if (!ctx.status || ctx.status === 404) storeMatched();
    };
    return runFrom(first).then(
      (v) => {
        settle();
        return v;
      },
      (e: unknown) => {
        storeMatched();
        throw e;
      },
    );
  };
}
