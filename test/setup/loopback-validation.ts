/**
 * The test process validates challenges against stub servers on 127.0.0.1
 * and [::1], which the production network policy refuses (RFC 8555 §10.2:
 * validation must not be pointed at internal services). Allow loopback explicitly for
 * this process and the processes it spawns (they inherit process.env); a
 * test that wants the production default passes its own policy.
 */
process.env.SIGIL_VALIDATION_ALLOWED_NETWORKS ??= "127.0.0.0/8,::1/128";

export {};
