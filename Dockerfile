# Builds the one `inlet` binary; the same image runs serve, migrate, ingest and worker.
# cargo-chef splits the build so the dependencies sit in a layer of their own: it is built
# again only when Cargo.toml or Cargo.lock change, and a change to the code recompiles the
# workspace alone.

FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The recipe: manifests and lockfile only, so it stays the same while only code changes.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin inlet --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin inlet

FROM debian:bookworm-slim
# curl runs the HEALTHCHECK. Not pinned: bookworm replaces a package's version with each
# security fix and drops the old one, so a pin would break the build instead of patching it.
# The binary needs no ca-certificates: its TLS clients carry their own roots (webpki-roots).
# The state folder is made and handed to the runtime user here, before VOLUME: a new named
# volume copies this owner, and Docker would otherwise create WORKDIR owned by root.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/inlet \
 && chown 65534:65534 /var/lib/inlet
COPY --from=build /src/target/release/inlet /usr/local/bin/inlet
# `serve` with no settings keeps SQLite and the embedded queue in ./data, that is
# /var/lib/inlet/data: mount a volume there to keep them across containers.
WORKDIR /var/lib/inlet
VOLUME ["/var/lib/inlet"]
ENV INLET_LISTEN=0.0.0.0:8080 \
    INLET_LOG_FORMAT=json
USER 65534:65534
EXPOSE 8080
# Readiness on the public listener (it answers /health/* but never /metrics), on the port
# INLET_LISTEN names, so overriding the address keeps the check right. Migrations run
# before the listener opens, hence the start period.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/bin/sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${INLET_LISTEN##*:}/health/ready\" || exit 1"]
ENTRYPOINT ["inlet"]
CMD ["serve"]
