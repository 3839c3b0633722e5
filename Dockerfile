# syntax=docker/dockerfile:1
# The production image of matrix-turn-credentials.
#
# Three stages: `build` compiles the TypeScript with only what tsc needs, `deps` installs
# the production dependencies, and the final stage is a plain Alpine with node's binary
# and the C++ runtime it links (what the node image itself installs), those dependencies
# and the compiled JavaScript: no npm, npx, yarn or corepack, and no layer that only
# deletes. It runs as an unprivileged user, needs no writable path (run it with a
# read-only root filesystem), and node is PID 1 with no npm or shell in between, so
# SIGTERM reaches the service and it drains gracefully.
#
# Build with the version and the commit it is made of, for the OCI labels:
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# The bases are pinned by tag and digest (the digest of the multi-platform index). To bump
# them: pick the new node:24.x.y-alpine3.z tag, take its index digest from
# `docker buildx imagetools inspect node:<tag>` (or docker-library/repo-info,
# repos/node/remote/<tag>.md), and the digest of alpine:3.z.w (the Alpine release that
# node tag is built on, the first line of its Dockerfile) the same way; keep the two on
# one Alpine release, as node's binary is built against its C++ runtime. The digests here:
# node:24.19.0-alpine3.24 (built 3 Aug 2026 on Alpine 3.24.1) from docker-library/repo-info,
# alpine:3.24.1 from a mirror of it (maxmood96/repo-info), whose amd64 and arm64 layers are
# the first layers of that node image.

ARG NODE_IMAGE=node:24.19.0-alpine3.24@sha256:d32cdf619f63fe0471182d08996dd516c6275bb5fd31ae06e55a570bd9e1ad43
ARG ALPINE_IMAGE=alpine:3.24.1@sha256:28bd5fe8b56d1bd048e5babf5b10710ebe0bae67db86916198a6eec434943f8b

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Only what tsc needs: the production dependencies (whose types the code imports) and the
# build tools below, every one at the lockfile's version. The devDependencies are cut down
# to those tools before `npm ci`, which then installs exactly the locked tree of what is
# left (npm ci checks what it installs against the lockfile). --ignore-scripts: no install
# script is needed.
RUN node -e ' \
      const fs = require("node:fs"); \
      const pkg = JSON.parse(fs.readFileSync("package.json", "utf8")); \
      const tools = ["typescript", "@types/node", "@types/koa"]; \
      for (const tool of tools) if (!pkg.devDependencies[tool]) throw new Error(tool + " is not a devDependency"); \
      pkg.devDependencies = Object.fromEntries(tools.map((tool) => [tool, pkg.devDependencies[tool]])); \
      fs.writeFileSync("package.json", JSON.stringify(pkg)); \
    ' \
    && npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${ALPINE_IMAGE} AS runtime
# node's binary links libstdc++ (and libgcc_s), nothing else beyond musl. The "node" user
# is the node image's, by the same numbers, so the chart's runAsUser and the files' modes
# hold; it has no home and no login shell.
RUN apk add --no-cache libstdc++ \
    && addgroup -g 1000 node \
    && adduser -u 1000 -G node -s /sbin/nologin -D -H node
COPY --from=build /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root and read-only to the service user: it cannot alter its own code.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="matrix-turn-credentials" \
      org.opencontainers.image.description="Issues TURN credentials to Matrix clients on behalf of a homeserver" \
      org.opencontainers.image.source="https://github.com/matrix-turn-credentials/matrix-turn-credentials" \
      org.opencontainers.image.documentation="https://github.com/matrix-turn-credentials/matrix-turn-credentials/tree/main/docs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# The "node" user, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8080 9090

# Liveness only: readiness (Redis, draining) is the orchestrator's business via /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# No entrypoint, whatever a base may set: node runs as PID 1.
ENTRYPOINT []
CMD ["node", "dist/src/main.js"]
