# Both binaries in one image. The runtime carries iptables (both its nft and
# legacy backends: the agent fixes whichever FORWARD chain drops) and
# ebtables-legacy: Debian 12's nft-based ebtables has no broute table.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/harvnet-agent ./cmd/harvnet-controller

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables ebtables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
USER 0
ENTRYPOINT []
