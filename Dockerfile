# Both binaries in one image. The runtime carries iptables (both its nft and
# legacy backends: the agent fixes whichever FORWARD chain drops),
# ebtables-legacy (Debian 12's nft-based ebtables has no broute table) and
# nft, so the doctor also sees native nftables chains (firewalld's).
# Conventional on purpose: it builds unchanged with docker/buildkit or buildah
# anywhere; scripts/image.sh (make image) builds it with buildah on a machine
# with no registry by first making the two base images locally.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/harvnet-agent ./cmd/harvnet-controller

FROM debian:bookworm-slim
# ebtables in bookworm is the nft flavour by default; the legacy binaries
# (ebtables-legacy, with broute) ship in the same package.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables ebtables nftables \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*.log /usr/share/doc /usr/share/man
COPY --from=build /out/ /usr/local/bin/
# The agent runs as root with only the capabilities the chart lists; the
# controller's pod sets runAsUser 65532 (see manifests/chart/harvnet).
USER 0
ENTRYPOINT []
