# syntax=docker/dockerfile:1
# The production image of matrix-turn-credentials.
#
# Three stages: `build` compiles the TypeScript with the dev dependencies, `deps` installs
# the production dependencies only, and the final stage carries nothing but node, those
# dependencies and the compiled JavaScript. It runs as an unprivileged user, needs no
# writable path (run it with a read-only root filesystem), and node is PID 1 with no npm
# or shell in between, so SIGTERM reaches the service and it drains gracefully.
#
# Node 24 (the current LTS line) in the image; the code itself supports Node >= 20.19.
# The base is pinned to an exact release; bump NODE_IMAGE deliberately.

ARG NODE_IMAGE=node:24.17.0-alpine3.24

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the "prestart" build hook and dependency install scripts are not needed.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# npm, npx and yarn are never used at run time: removing them shrinks what an attacker
# could use, and makes `npm start` (whose prestart hook would try to compile) impossible.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx \
        /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root and read-only to the service user: it cannot alter its own code.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src

# The image's "node" user, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8080 9090

# Liveness only: readiness (Redis, draining) is the orchestrator's business via /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The base image's entrypoint is a shell script; with none, node runs as PID 1.
ENTRYPOINT []
CMD ["node", "dist/src/main.js"]
