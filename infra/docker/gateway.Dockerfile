# dtq-gateway: the GraphQL gateway (gateway/, docs/graphql.md), one Node.js
# process beside `dtq api`: /graphql (HTTP and graphql-transport-ws) over the
# API's gRPC JobService (DTQ_GRPC_TARGET), with its own /healthz, /readyz
# (the gRPC target answers) and /metrics on its port (DTQ_GATEWAY_LISTEN).
#
#   docker build -f infra/docker/gateway.Dockerfile -t dtq-gateway .
#
# From the repository root: it takes gateway/ and proto/dtq/v1/. The npm
# packages come from the committed lockfile (npm ci, production only). The
# root file system may be read-only: nothing is written at run time.
#
# BASE is a Node.js 20 image on Debian 12 (Apollo Server 5 needs Node.js 20;
# Debian 12's own is 18); the tests may pass one of their own.
ARG BASE=node:20-bookworm-slim

# --- deps: the gateway's npm packages, from its lockfile ----------------------
FROM ${BASE} AS deps
WORKDIR /opt/dtq-gateway
COPY gateway/package.json gateway/package-lock.json gateway/.npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# --- runtime -------------------------------------------------------------------
FROM ${BASE}
# A fixed uid, as dtq's own image, so that Kubernetes' runAsUser can name it.
RUN groupadd --system --gid 10001 dtq \
 && useradd --system --uid 10001 --gid dtq --no-create-home --shell /usr/sbin/nologin dtq
WORKDIR /opt/dtq-gateway
COPY --from=deps /opt/dtq-gateway/node_modules ./node_modules
COPY gateway/package.json gateway/schema.graphql ./
COPY gateway/src ./src
COPY proto/dtq/v1 ./proto/dtq/v1
ENV NODE_ENV=production \
    DTQ_GATEWAY_LISTEN=0.0.0.0:8081 \
    DTQ_GRPC_TARGET=api:9090 \
    DTQ_PROTO_DIR=/opt/dtq-gateway/proto
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "/opt/dtq-gateway/src/healthcheck.mjs"]
USER 10001:10001
ENTRYPOINT ["node", "/opt/dtq-gateway/src/main.mjs"]
