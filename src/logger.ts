import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured logging: one JSON line per request/RPC. Keys and fields that
 * could carry secrets are redacted wherever they appear.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "sigil" },
    redact: {
      paths: [
        "password",
        "*.password",
        "token",
        "*.token",
        "refreshToken",
        "*.refreshToken",
        "hmacKey",
        "*.hmacKey",
        "privateKey",
        "*.privateKey",
        "authorization",
        "*.authorization",
        "headers.authorization",
      ],
      censor: "[redacted]",
    },
  });
}
