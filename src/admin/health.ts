/**
 * grpc.health.v1.Health (https://github.com/grpc/grpc/blob/master/doc/health-checking.md):
 * Check and Watch over a small status table. "" is the whole server; every
 * registered service is SERVING from the start. `main` may flip statuses to
 * NOT_SERVING on shutdown so load balancers drain the instance first.
 */
import type { DescService } from "@bufbuild/protobuf";
import { SigilError } from "../core/errors.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import type { ServiceImpl } from "./grpc-adapter.js";

export { ServingStatus };

type Listener = (status: ServingStatus) => void;

/** The serving status of the server ("") and of each service. */
export class HealthStatus {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #listeners = new Map<string, Set<Listener>>();

  constructor(services: Iterable<string> = []) {
    this.#statuses.set("", ServingStatus.SERVING);
    for (const s of services) this.#statuses.set(s, ServingStatus.SERVING);
  }

  /** The status of `service`, or undefined when it is not known. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Sets the status of `service` ("" for the server) and notifies watchers. */
  set(service: string, status: ServingStatus): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    for (const l of this.#listeners.get(service) ?? []) l(status);
  }

  /** Sets every known service (and the server) to `status`, e.g. NOT_SERVING on shutdown. */
  setAll(status: ServingStatus): void {
    for (const service of [...this.#statuses.keys()]) this.set(service, status);
  }

  /** Calls `listener` on every change of `service`; returns the unsubscribe function. */
  watch(service: string, listener: Listener): () => void {
    let set = this.#listeners.get(service);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(service, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      // Watch takes any name from unauthenticated callers: keep nothing once its last watcher is gone
      if (set.size === 0 && this.#listeners.get(service) === set) this.#listeners.delete(service);
    };
  }

  /** How many service names have watchers now. */
  get watchedServices(): number {
    return this.#listeners.size;
  }

  /** Registers the services' names as SERVING. */
  addServices(services: Iterable<DescService>): void {
    for (const s of services) if (!this.#statuses.has(s.typeName)) this.set(s.typeName, ServingStatus.SERVING);
  }
}

/** The Health service implementation over `status`. */
export function healthService(status: HealthStatus): ServiceImpl<typeof Health> {
  return {
    async check(req) {
      const s = status.get(req.service);
      if (s === undefined) throw SigilError.notFound(`unknown service ${JSON.stringify(req.service)}`);
      return { status: s };
    },

    async watch(req, ctx, send) {
      // Changes that happen while a send is in flight are queued in order.
      let chain = send({ status: status.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN });
      const unsubscribe = status.watch(req.service, (s) => {
        chain = chain.then(() => send({ status: s }));
      });
      try {
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
      } finally {
        unsubscribe();
        chain.catch(() => undefined);
      }
    },
  };
}

export { Health };
