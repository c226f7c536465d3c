# Stagebus's image: a static Go binary on distroless (no shell, no package manager, CA
# certificates included), running as a non-root user. docker-compose.yml builds it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/platform ./cmd/platform

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/platform /platform
# app-config.yaml is the base layer; app-config.production.yaml is the production layer,
# which docker-compose.yml replaces with the repository's copy mounted read-only.
COPY app-config.yaml app-config.production.yaml /app/
WORKDIR /app
# distroless's "nonroot" user, written as numbers so that runtimes can check it is not root.
USER 65532:65532
EXPOSE 7007
ENTRYPOINT ["/platform", "--config", "/app/app-config.yaml", "--config", "/app/app-config.production.yaml"]
# Probes /.backstage/health/v1/readiness with the same configuration; exit 0 when ready.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/platform", "health", "--config", "/app/app-config.yaml", "--config", "/app/app-config.production.yaml"]
