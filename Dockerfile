# syntax=docker/dockerfile:1
# edgepush: one compiled executable on a slim glibc base.
# Build: docker build -t edgepush .   Run: docker run -p 8080:8080 -e EDGEPUSH_JWT_SECRET=... edgepush

# Stage 1: install the locked dependencies (Bun comes in as a devDependency) and compile.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build && ./dist/edgepush --help

# Stage 2: only the executable. Debian (glibc) because libSQL's embedded addon is the gnu build;
# it is written to $TMPDIR and loaded from there at start, so /tmp must stay writable.
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --home-dir /app --create-home edgepush \
  && mkdir -p /app/data && chown edgepush /app/data
COPY --from=build /src/dist/edgepush /usr/local/bin/edgepush
# Fly volumes are mounted owned by root: build with --build-arg RUN_AS=root to write to one.
ARG RUN_AS=edgepush
USER ${RUN_AS}
WORKDIR /app
# History defaults to file:data/edgepush.db, i.e. /app/data: mount a volume there, or set
# TURSO_DATABASE_URL and TURSO_AUTH_TOKEN to keep it in Turso.
ENV PORT=8080
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/edgepush"]
CMD ["serve"]
