# Container image of the otelcol-databricks distribution, shaped like the upstream OpenTelemetry Collector release
# images: FROM scratch, a statically linked binary, the CA bundle, the default configuration, a non-root user.
#
# Build it with `make image` (scripts/build-image.sh): it needs bin/otelcol-databricks from `make build` and
# bin/ca-certificates.crt, the host's CA bundle (Debian's ca-certificates), which the script copies there because
# no base image is pulled. The build context is the repository root; .dockerignore admits only the files copied
# below (bin/state is an empty directory, the state directory's mode and owner). By hand:
#
#   make build && cp /etc/ssl/certs/ca-certificates.crt bin/ && mkdir -p bin/state && podman build -t otelcol-databricks:0.1.0 .
#
# Run it (Prometheus only, the default command):
#
#   podman run -e DATABRICKS_HOST=https://<workspace> -e DATABRICKS_TOKEN=<token> \
#     -e PROMETHEUS_REMOTE_WRITE_ENDPOINT=http://prometheus:9090/api/v1/write -p 13133:13133 \
#     -v otelcol-databricks-state:/var/lib/otelcol-databricks otelcol-databricks:0.1.0
#
# With Datadog as well, pass both configs as arguments (they replace the default command) and DD_API_KEY
# (optionally DD_SITE, DD_HOSTNAME):
#
#   podman run ... -e DD_API_KEY=<key> otelcol-databricks:0.1.0 \
#     --config /etc/otelcol-databricks/config.yaml --config /etc/otelcol-databricks/datadog.yaml
#
# OTLP (-e OTLP_ENDPOINT=..., optionally OTLP_HEADERS) or a /metrics endpoint to scrape
# (-e PROMETHEUS_EXPORTER_ENDPOINT=0.0.0.0:9464 -p 9464:9464) likewise: add --config /etc/otelcol-databricks/otlp.yaml
# or --config /etc/otelcol-databricks/prometheus-scrape.yaml (docs/configuration.md).
#
# Your own configuration: mount it and pass it with --config (files given later override earlier ones).
FROM scratch

ARG USER_UID=10001
ARG USER_GID=10001
ARG VERSION=0.1.0

LABEL org.opencontainers.image.title="otelcol-databricks" \
      org.opencontainers.image.description="OpenTelemetry Collector distribution for Databricks Model Serving metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

USER ${USER_UID}:${USER_GID}

# Files stay owned by root and world-readable (explicit modes, whatever the builder's umask): the collector's user
# reads them and can change none of them.
COPY --chmod=644 bin/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chmod=755 bin/otelcol-databricks /otelcol-databricks
COPY --chmod=644 cmd/otelcol-databricks/config.yaml /etc/otelcol-databricks/config.yaml
COPY --chmod=644 cmd/otelcol-databricks/datadog.yaml /etc/otelcol-databricks/datadog.yaml
COPY --chmod=644 cmd/otelcol-databricks/otlp.yaml /etc/otelcol-databricks/otlp.yaml
COPY --chmod=644 cmd/otelcol-databricks/prometheus-scrape.yaml /etc/otelcol-databricks/prometheus-scrape.yaml
# The receiver's saved state (STATE_DIR of the shipped config), the one directory the collector's user writes.
# Mount a volume here to keep it when the container is replaced (docs/reliability.md).
COPY --chown=${USER_UID}:${USER_GID} --chmod=700 bin/state/ /var/lib/otelcol-databricks/

# The shipped config binds the health check to 127.0.0.1 by default; in a container it must answer from outside.
ENV HEALTH_CHECK_ENDPOINT=0.0.0.0:13133

ENTRYPOINT ["/otelcol-databricks"]
CMD ["--config", "/etc/otelcol-databricks/config.yaml"]
# health_check extension
EXPOSE 13133
