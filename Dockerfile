# Builds the one `inlet` binary; the same image runs migrate, ingest and worker.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin inlet

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/inlet /usr/local/bin/inlet
ENV INLET_LISTEN=0.0.0.0:8080 \
    INLET_LOG_FORMAT=json
USER 65534:65534
ENTRYPOINT ["inlet"]
CMD ["serve"]
