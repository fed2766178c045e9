# syntax=docker/dockerfile:1
# Sigil on the current Node LTS (24). The build stage compiles TypeScript
# (npm run build -> dist/); the runtime stage carries dist/, bin/ and the
# production dependencies only: no sources, tests, benchmarks or compilers,
# so nothing is compiled at run time (bin/sigil.js runs dist/ when there is no
# src/). It runs as the unprivileged `node` user (uid 1000).
#
#   docker build -t sigil .
#   docker run -e SIGIL_MASTER_KEY_FILE=/run/secrets/master.key ... sigil
#
# Configuration is the environment (README: Configuration). The generated
# first-run admin password is written to /data/initial-admin-password (0600).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; bcrypt
# ships N-API prebuilds (prebuilds/linux-*), so its install script is not needed
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# the web console's sources (npm run build bundles them into dist/console with vite)
COPY console ./console
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SIGIL_HOST=0.0.0.0 \
    SIGIL_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
# 8080 HTTP (relying parties, /healthz /readyz /metrics, ACME behind a proxy),
# 8443 HTTPS (ACME, RFC 8555 §6.1), 9090 gRPC admin (publish it on loopback only
# unless SIGIL_GRPC_TLS_CERT/KEY are set)
EXPOSE 8080 8443 9090
# readiness, not liveness: a container whose database is gone reports unhealthy
# (no curl in the slim image: node's fetch; honours a changed SIGIL_HTTP_PORT)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.SIGIL_HTTP_PORT||8080}/readyz`,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains (SIGIL_SHUTDOWN_GRACE_SECONDS, default 25): give `docker stop -t 30`
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/sigil.js"]
CMD ["serve"]
