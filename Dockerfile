# syntax=docker/dockerfile:1
# One image for every role: axon serve | work | migrate | backup | rollback-resolve.

# ---- build ------------------------------------------------------------------------
FROM golang:1.26.10-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# No BuildKit cache mounts: Railway rejects mounts without its service-specific id.
# The module download is its own layer, so it is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/axon . \
 && mkdir -p configs

# ---- runtime ----------------------------------------------------------------------
FROM debian:bookworm-slim
# poppler-utils: pdftotext, which the ingestion worker runs to extract PDF text.
# pg_dump/pg_restore for `axon backup`. pg_dump refuses to dump a server newer than
# itself and bookworm ships 15, so the client comes from the PostgreSQL (PGDG) apt
# repository; PG_MAJOR must be >= the production server's major version.
ARG PG_MAJOR=17
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl tzdata poppler-utils; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*; \
    "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version; \
    pdftotext -v
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH

RUN groupadd --system --gid 1001 axon \
 && useradd --system --uid 1001 --gid 1001 --home-dir /app --no-create-home --shell /usr/sbin/nologin axon
WORKDIR /app
COPY --from=build /out/axon /usr/local/bin/axon
COPY --from=build /src/configs /app/configs
USER 1001:1001

ENV APP_ENV=production PORT=3001
EXPOSE 3001
STOPSIGNAL SIGTERM
ENTRYPOINT ["axon"]
CMD ["serve"]
