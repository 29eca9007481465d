# syntax=docker/dockerfile:1
# Fourcast image: Debian 12 with Node 20 (uWebSockets.js loads its glibc >= 2.27 build
# there; mediasoup's worker is built against bookworm's libraries when no prebuilt is reachable).
# Run: see config/compose.yaml and docs/deployment.md (host networking, or publish the
# UDP+TCP media ports and set RTC_ANNOUNCED_ADDRESS). Mint tokens inside the container:
#   docker exec <container> node dist/server/cli/token.js --role publisher --room main-stage
# The build stage runs the same worker script as `bash scripts/setup.sh`.

FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
# Worker first: it only depends on the lockfile and the recipe, so this layer caches well.
# Upstream's prebuilt binary is used when GitHub is reachable; else it builds from source.
COPY scripts ./scripts
RUN bash scripts/mediasoup-worker/build.sh
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive NODE_ENV=production
# Shared libraries of a worker built against Debian (harmless for a prebuilt one), and
# ffmpeg for recording (one process per broadcaster segment; without it recording answers 503).
RUN apt-get update && apt-get install -y --no-install-recommends \
      libssl3 libuv1 libusrsctp2 libabsl20220623 ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# RECORDING_DIR's default (./recordings), writable by the service user; mount a volume here to keep recordings.
RUN mkdir -p /app/recordings && chown node:node /app/recordings
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/config ./config
USER node
# HTTP (client, /api, /metrics, /admin), WebSocket, and one WebRtcServer port per
# worker (RTC_PORT_BASE + index; set MEDIASOUP_WORKERS to match what you publish).
EXPOSE 3000/tcp 3001/tcp 40000-40007/udp 40000-40007/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/server/main.js"]
