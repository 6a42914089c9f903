# The control plane: API, dashboard and dispatcher. With TRANSPORT=sqs it runs no engine
# itself; embedded (the default) it also runs PocketSphinx or Whisper on the CPU.
#   docker build -t transcribe-control-plane .
FROM node:20-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg pocketsphinx pocketsphinx-en-us python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY prisma ./prisma
COPY scripts ./scripts
# postinstall generates the Prisma clients; better-sqlite3 builds from source where no prebuilt fits.
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build

# MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_: glibc's allocator thresholds, as `npm start` sets them
# (scripts/malloc-env.mjs says why).
ENV NODE_ENV=production \
    PORT=18000 \
    DATA_DIR=/data \
    MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=268435456
VOLUME ["/data"]
EXPOSE 18000
HEALTHCHECK --interval=15s --timeout=5s CMD node -e "fetch('http://127.0.0.1:18000/live').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "scripts/start.mjs"]
