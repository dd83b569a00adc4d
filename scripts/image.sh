#!/usr/bin/env bash
# make image: builds the Dockerfile with buildah (no Docker engine, no
# registry) and writes OCI archives under _output/:
#   _output/harvnet-<tag>.oci.tar   harvnet image, tag = git describe --always --dirty
#                                   (or $TAG), named ghcr.io/harvnet/harvnet:<tag>;
#                                   IMAGE_FROM=head builds the last commit instead
#   _output/pause-3.10.2.oci.tar    registry.k8s.io/pause:3.10.2 for the kubelet tier
#
# The Dockerfile names public bases (golang:1.26-bookworm, debian:bookworm-slim).
# Here no registry is reachable, so this script first makes those two images
# locally under the same names (once; kept in buildah's storage):
#   debian:bookworm-slim  a minbase bookworm rootfs from mmdebstrap (Debian's mirror)
#   golang:1.26-bookworm  that rootfs plus this machine's Go at /usr/local/go
#                         (the same toolchain the tests use), GOPATH=/go, and
#                         this machine's CA bundle (for its egress proxy)
# Modules come through the Go module proxy into a buildah cache mount, so
# rebuilds are warm. pause is registry.k8s.io/pause rebuilt from the
# k8s.io/kubernetes module's build/pause/linux/pause.c, statically linked.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/_output
repo=${IMAGE_REPO:-ghcr.io/harvnet/harvnet}
# IMAGE_FROM=head builds the last commit (git archive) instead of the work
# tree: reproducible while uncommitted edits are in progress.
context=$root
# Working containers (buildah from) and the temporary context go on exit,
# also after a failed step.
workers=()
cleanup() {
  local w
  for w in "${workers[@]}"; do buildah rm "$w" >/dev/null 2>&1 || true; done
  [[ $context == "$root" ]] || rm -rf "$context"
}
trap cleanup EXIT
if [[ ${IMAGE_FROM:-} == head ]]; then
  context=$(mktemp -d)
  git -C "$root" archive HEAD | tar -x -C "$context"
  tag=${TAG:-$(git -C "$root" describe --always)}
else
  tag=${TAG:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)}
fi
pause_ver=3.10.2 # what kubelet 1.37 (kubeadm PauseVersion) and containerd 2.4 expect
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export PATH=/usr/local/go/bin:$PATH
export STORAGE_DRIVER=${STORAGE_DRIVER:-overlay}

die() { echo "image: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "needs root (buildah, mmdebstrap)"

need=()
for p in buildah mmdebstrap gcc libc6-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
fi

have() { buildah inspect --type image "$1" >/dev/null 2>&1; }
mkdir -p "$out"
start=$SECONDS

# debian:bookworm-slim: a minbase rootfs, the same content class as the
# official slim image (apt, dpkg, bash, coreutils; no docs).
# Bump slim when the recipe below changes: the image is rebuilt.
slim=3
if ! have docker.io/library/debian:bookworm-slim ||
  [[ $(buildah inspect --type image --format '{{index .ImageAnnotations "harvnet.slim"}}' docker.io/library/debian:bookworm-slim) != "$slim" ]]; then
  echo "image: making debian:bookworm-slim with mmdebstrap from $mirror" >&2
  rootfs=$(mktemp -d)
  # What the official slim image leaves out too (debuerreotype's --slim).
  # merged-usr hook: merged /usr the debootstrap way, as the official image
  # is, instead of the usrmerge package (which drags in 45 MB of perl).
  mmdebstrap --quiet --variant=minbase --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/groff/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$rootfs/rootfs.tar" "$mirror" >"$rootfs/log" 2>&1 || { tail -n 30 "$rootfs/log" >&2; die "mmdebstrap failed"; }
  c=$(buildah from scratch)
  workers+=("$c")
  buildah add --quiet "$c" "$rootfs/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
    --annotation "harvnet.slim=$slim" "$c"
  buildah commit --quiet --rm "$c" docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
fi

# golang:1.26-bookworm: the slim base plus ca-certificates (the proxy is
# https) and this machine's Go, laid out as the official image does.
# The machine's CA bundle goes in too: here TLS to the module proxy passes
# an egress proxy whose CA only this machine's trust store holds.
gover="$(go env GOVERSION) slim:$slim ca:$(sha256sum </etc/ssl/certs/ca-certificates.crt | cut -c1-12)"
if ! have docker.io/library/golang:1.26-bookworm ||
  [[ $(buildah inspect --type image --format '{{index .ImageAnnotations "harvnet.go"}}' docker.io/library/golang:1.26-bookworm) != "$gover" ]]; then
  echo "image: making golang:1.26-bookworm from debian:bookworm-slim + $gover" >&2
  c=$(buildah from --pull=never docker.io/library/debian:bookworm-slim)
  workers+=("$c")
  buildah run --network=host "$c" -- sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates git >/dev/null && rm -rf /var/lib/apt/lists/*'
  buildah copy --quiet "$c" "$(go env GOROOT)" /usr/local/go >/dev/null
  buildah copy --quiet "$c" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
  buildah config --env GOPATH=/go --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env GOTOOLCHAIN=local --workingdir /go --annotation "harvnet.go=$gover" "$c"
  buildah commit --quiet --rm "$c" docker.io/library/golang:1.26-bookworm >/dev/null
fi

echo "image: building $repo:$tag" >&2
buildah build --quiet --pull=never --network=host --layers \
  -f "$context/Dockerfile" -t "$repo:$tag" "$context" >/dev/null || die "buildah build failed"
rm -f "$out/harvnet-$tag.oci.tar"
buildah push --quiet "$repo:$tag" "oci-archive:$out/harvnet-$tag.oci.tar:$repo:$tag" >/dev/null
size=$(buildah images --format '{{.Size}}' "$repo:$tag" 2>/dev/null | sed -n 1p)
echo "image: $out/harvnet-$tag.oci.tar ($size unpacked, $(du -h "$out/harvnet-$tag.oci.tar" | cut -f1) archive) in $((SECONDS - start))s" >&2

# pause: for the kubelet tier's sandboxes (scripts/cluster-up.sh).
if [[ ! -s $out/pause-$pause_ver.oci.tar ]]; then
  src=$(cd "$root/tools/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  [[ -f $src ]] || (cd "$root/tools/kube" && go mod download k8s.io/kubernetes)
  tmp=$(mktemp -d)
  gcc -Os -static -DVERSION="v$pause_ver" -o "$tmp/pause" "$src" && strip "$tmp/pause" || die "building pause failed"
  c=$(buildah from scratch)
  workers+=("$c")
  buildah copy --quiet "$c" "$tmp/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit --quiet --rm "$c" registry.k8s.io/pause:$pause_ver >/dev/null
  buildah push --quiet registry.k8s.io/pause:$pause_ver \
    "oci-archive:$out/pause-$pause_ver.oci.tar:registry.k8s.io/pause:$pause_ver" >/dev/null
  rm -rf "$tmp"
fi
echo "$out/harvnet-$tag.oci.tar"
