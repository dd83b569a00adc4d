#!/usr/bin/env bash
# Fails if the generated files (pkg/generated, crds, pkg/apis deepcopy, manifests/) are not
# what scripts/generate.sh produces from the current sources.
#
# It regenerates in a temporary copy of the module, so the work tree is never
# touched; the copy is a throwaway git repository and the check is
# `git diff --exit-code` there, which also catches new and deleted files.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
paths=(pkg/generated crds pkg/apis manifests)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/harvnet-verify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Copy only what generation reads and writes (not bin/ or build output).
copy=(go.mod go.sum pkg crds scripts manifests)
for f in go.work go.work.sum; do [[ -e $root/$f ]] && copy+=("$f"); done
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked plus untracked-but-not-ignored files, as the work tree has them.
  (cd "$root" && git ls-files -z --cached --others --exclude-standard -- "${copy[@]}" |
    while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
    xargs -0 -r cp --parents -t "$tmp")
else
  for p in "${copy[@]}"; do [[ -e $root/$p ]] && cp -a "$root/$p" "$tmp/"; done
fi

g() { git -C "$tmp" -c user.name=verify -c user.email=verify@localhost -c core.autocrlf=false "$@"; }
g init -q
g add -A
g commit -q --no-verify -m base

# The chart is rendered with this checkout's bin/helm.
export HELM=${HELM:-$root/bin/helm}
if ! "$tmp/scripts/generate.sh" >"$tmp.log" 2>&1; then
  cat "$tmp.log" >&2
  rm -f "$tmp.log"
  echo "verify-generated: scripts/generate.sh failed (see above)" >&2
  exit 1
fi
rm -f "$tmp.log"

g add -A -- "${paths[@]}"
if ! g diff --cached --exit-code --quiet -- "${paths[@]}"; then
  {
    echo "verify-generated: generated files are out of date:"
    g diff --cached --stat=120 -- "${paths[@]}"
    g diff --cached -- "${paths[@]}" | head -n 200 || true
    echo
    echo "verify-generated: run scripts/generate.sh and commit the result."
  } >&2
  exit 1
fi
echo "verify-generated: pkg/generated, crds, pkg/apis deepcopy and manifests (chart crds, harvnet.yaml) are up to date"
