#!/usr/bin/env bash
# Full-kernel test tier: boots a stock Debian kernel under qemu (software
# emulation, no KVM needed) and runs the project's netns tests inside it,
# where the kernel has bridge VLAN filtering, 8021q, bonding and the
# ebtables broute table, so the tests take their full-kernel branches and
# fail, rather than skip, when a capability is missing (HARVNET_FULL_KERNEL=1).
# See e2e/vm/README.md.
#
# Idempotent: installs missing apt packages (needs root for that only),
# caches the kernel and its modules, rebuilds the test binaries and the
# initramfs every run. Prints "N passed, M failed" last; exits non-zero on
# any failure, a VM that never reports (timeout or crash), or missing qemu.
#
# Usage: scripts/vm-test.sh [-v] [-run REGEX]
#   -v          stream the whole serial console, not only progress and failures
#   -run REGEX  run only the tests matching REGEX (go test -run)
# Env:
#   HARVNET_VM_CACHE    kernel cache (default /var/cache/harvnet-vm as root,
#                       else ${XDG_CACHE_HOME:-~/.cache}/harvnet-vm)
#   HARVNET_VM_OUT      image, console log and test binaries (default _output/vm)
#   HARVNET_VM_KERNEL   Debian kernel package (default: the one linux-image-amd64 depends on)
#   HARVNET_VM_PKGS     Go packages to test (default: those with *_netns_test.go
#                       or *_fullkernel_test.go files)
#   HARVNET_VM_FILES    extra file lists in e2e/vm/files format (space-separated)
#   HARVNET_VM_HOOKS    executables /init runs before the tests (space-separated)
#   HARVNET_VM_ENV      NAME=value words exported to the tests in the VM
#   HARVNET_VM_TIMEOUT  seconds until a VM that has not reported is killed (240)
#   HARVNET_VM_GO_TIMEOUT  -test.timeout per test binary, in seconds (120)
#   HARVNET_VM_MEM (1024), HARVNET_VM_SMP (2)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vmdir=$root/e2e/vm
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

verbose=0 run=
while (($#)); do
  case $1 in
  -v) verbose=1 ;;
  -run) run=${2:?-run needs a regex}; shift ;;
  -run=*) run=${1#-run=} ;;
  *) echo "usage: $0 [-v] [-run REGEX]" >&2; exit 2 ;;
  esac
  shift
done

if [[ $EUID -eq 0 ]]; then
  cache=${HARVNET_VM_CACHE:-/var/cache/harvnet-vm}
else
  cache=${HARVNET_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/harvnet-vm}
fi
out=${HARVNET_VM_OUT:-$root/_output/vm}
boot_timeout=${HARVNET_VM_TIMEOUT:-240}
go_timeout=${HARVNET_VM_GO_TIMEOUT:-120}
mem=${HARVNET_VM_MEM:-1024}
smp=${HARVNET_VM_SMP:-2}
log=$out/console.log
t0=$SECONDS

say() { echo "vm-test: $*" >&2; }
# fail prints the line CI counts, so a run that never got to the VM still
# shows up as a failure, and exits.
fail() {
  say "$*"
  echo "0 passed, 1 failed"
  exit 1
}
phase() { say "$1 ($((SECONDS - t0))s)"; }
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

[[ $go_timeout =~ ^[0-9]+$ && $boot_timeout =~ ^[0-9]+$ ]] || fail "HARVNET_VM_GO_TIMEOUT and HARVNET_VM_TIMEOUT are seconds"
for kv in ${HARVNET_VM_ENV:-}; do
  [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || fail "HARVNET_VM_ENV: $kv is not NAME=value"
done
for h in ${HARVNET_VM_HOOKS:-}; do
  [[ -f $h && -x $h ]] || fail "HARVNET_VM_HOOKS: $h is not an executable file"
done

# ---------------------------------------------------------------- packages
# ebtables gives ebtables-legacy, iptables gives xtables-nft-multi; both are
# copied into the VM with iproute2's ip and bridge and iputils' ping.
pkgs=(qemu-system-x86 busybox-static cpio kmod ebtables iptables iproute2 iputils-ping procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $EUID -eq 0 ]] || fail "need root to apt-get install: ${missing[*]}"
  phase "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  tmps+=("$apt_log")
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1 ||
    { tail -n 20 "$apt_log" >&2; fail "apt-get install ${missing[*]} failed"; }
fi
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v go >/dev/null || fail "go not found in PATH"
[[ -x /bin/busybox ]] || fail "/bin/busybox not found (apt-get install busybox-static)"

mkdir -p "$cache/debs" "$cache/kernel" "$out"
exec 9>"$cache/.lock"
flock -w 600 9 || fail "another vm-test.sh holds $cache/.lock"

# ------------------------------------------------------------------ kernel
# The kernel package is downloaded once per version; the module set is
# rebuilt from the cached .deb when e2e/vm/modules changes.
kpkg=${HARVNET_VM_KERNEL:-}
if [[ -z $kpkg ]]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [[ -z $kpkg && $EUID -eq 0 ]]; then
    apt-get update -qq >/dev/null 2>&1 || true
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  if [[ -z $kpkg ]]; then # offline, no apt lists: the newest cached kernel
    kpkg=$(find "$cache/debs" -name 'linux-image-*.deb' -printf '%f\n' | sort -V | tail -n1 | cut -d_ -f1)
  fi
  [[ -n $kpkg ]] || fail "cannot tell which kernel package linux-image-amd64 wants (apt-get update?)"
fi
kver=${kpkg#linux-image-}
kdeb=$(find "$cache/debs" -name "${kpkg}_*_amd64.deb" | sort -V | tail -n1)
if [[ -z $kdeb ]]; then
  phase "downloading $kpkg"
  dl=$(mktemp -d "$cache/debs/.dl.XXXXXX")
  tmps+=("$dl")
  if ! (cd "$dl" && apt-get download -qq "$kpkg" >/dev/null 2>&1); then
    [[ $EUID -eq 0 ]] && apt-get update -qq >/dev/null 2>&1
    (cd "$dl" && apt-get download -qq "$kpkg") >&2 || fail "apt-get download $kpkg failed"
  fi
  mv "$dl"/*.deb "$cache/debs/"
  kdeb=$(find "$cache/debs" -name "${kpkg}_*_amd64.deb" | sort -V | tail -n1)
fi

modkey=$(grep -v '^\s*#' "$vmdir/modules" | sha256sum | cut -c1-12)
kdir=$cache/kernel/$(basename "$kdeb" .deb)-$modkey
if [[ ! -f $kdir/.complete ]]; then
  phase "extracting $kver and resolving modules"
  rm -rf "$kdir"
  mkdir -p "$kdir/lib/modules"
  x=$(mktemp -d "$cache/.x.XXXXXX")
  empty=$(mktemp -d)
  tmps+=("$x" "$empty")
  dpkg-deb -x "$kdeb" "$x"
  base=$x
  [[ -d $base/lib/modules/$kver ]] || base=$x/usr
  mdir=$base/lib/modules/$kver
  [[ -d $mdir && -f $x/boot/vmlinuz-$kver ]] || fail "no vmlinuz or lib/modules/$kver in $kdeb"
  depmod -b "$base" "$kver"
  cp "$x/boot/vmlinuz-$kver" "$kdir/vmlinuz"
  mkdir -p "$kdir/lib/modules/$kver"
  cp "$mdir"/modules.{builtin,builtin.modinfo,order} "$kdir/lib/modules/$kver/"
  : >"$kdir/modules"
  declare -A seen=()
  while read -r mod params; do
    [[ -z $mod || $mod == \#* ]] && continue
    deps=$(modprobe -C "$empty" -d "$base" -S "$kver" --show-depends "$mod") ||
      fail "module $mod not found in $kpkg"
    while read -r kind path _; do
      [[ $kind == insmod ]] || continue # builtin
      rel=${path#"$mdir/"}
      name=$(basename "$rel")
      [[ -n ${seen[$rel]:-} ]] && continue
      seen[$rel]=1
      dest=$kdir/lib/modules/$kver/$rel
      mkdir -p "$(dirname "$dest")"
      case $name in
      *.ko.xz) xz -dc "$path" >"${dest%.xz}"; rel=${rel%.xz} ;;
      *.ko.zst) zstd -qdc "$path" >"${dest%.zst}"; rel=${rel%.zst} ;;
      *) cp "$path" "$dest" ;;
      esac
      # Parameters go to the module named in the list, not to its dependencies.
      if [[ $(basename "$rel" .ko) == "${mod//-/_}" ]]; then
        echo "$rel $params" >>"$kdir/modules"
      else
        echo "$rel" >>"$kdir/modules"
      fi
    done <<<"$deps"
  done <"$vmdir/modules"
  touch "$kdir/.complete"
fi

# ------------------------------------------------------------ test binaries
if [[ -n ${HARVNET_VM_PKGS:-} ]]; then
  read -ra tpkgs <<<"$HARVNET_VM_PKGS"
else
  mapfile -t tpkgs < <(cd "$root" && go list -e -f '{{.ImportPath}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' ./... |
    awk '/_netns_test\.go|_fullkernel_test\.go/ {print $1}')
fi
((${#tpkgs[@]})) || fail "no Go packages with netns tests found"
phase "building test binaries for ${tpkgs[*]}"
rm -rf "$out/tests" && mkdir -p "$out/tests"
# One go invocation builds them in parallel; static, so the VM needs no libc for them.
(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$out/tests/" "${tpkgs[@]}") ||
  fail "go test -c failed"

# ---------------------------------------------------------------- initramfs
phase "building the initramfs"
img=$out/root
rm -rf "$img"
mkdir -p "$img"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/harvnet-vm,proc,sys,dev,run,tmp,root,var,tests}
ln -s ../run "$img/var/run"
cp /bin/busybox "$img/bin/busybox"
# Every applet except those the tests need the real program for.
for a in $(/bin/busybox --list); do
  case $a in busybox | ip | ipaddr | iplink | ipneigh | iproute | iprule | iptunnel | bridge | ping | ping6 | sysctl) continue ;; esac
  ln -s busybox "$img/bin/$a"
done
cp "$vmdir/init" "$img/init"
chmod 755 "$img/init"
echo "root:x:0:0:root:/root:/bin/sh" >"$img/etc/passwd"
echo "root:x:0:" >"$img/etc/group"

declare -A copied=()
copy_one() { # copy a host file (following links) to the same path in the image
  local src=$1 dst=$img$1
  [[ -n ${copied[$src]:-} ]] && return
  copied[$src]=1
  mkdir -p "$(dirname "$dst")"
  cp -L "$src" "$dst"
}
copy_with_libs() {
  local f=$1 lib
  copy_one "$f"
  # ldd on a non-ELF file or a static binary lists nothing useful.
  while read -r lib; do
    [[ -n $lib ]] && copy_one "$lib"
  done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}
lists=("$vmdir/files")
for l in ${HARVNET_VM_FILES:-}; do lists+=("$l"); done
for list in "${lists[@]}"; do
  while read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    optional=
    [[ $line == \?* ]] && optional=1 line=${line#\?}
    read -r path arrow target <<<"$line"
    if [[ $arrow == '->' ]]; then
      mkdir -p "$(dirname "$img$path")"
      ln -sfn "$target" "$img$path"
    elif [[ -d $path ]]; then
      while read -r f; do copy_with_libs "$f"; done < <(find "$path" -type f)
    elif [[ -e $path ]]; then
      copy_with_libs "$path"
    elif [[ -z $optional ]]; then
      fail "$path (from $list) does not exist on this host"
    fi
  done <"$list"
done
cp -r "$kdir/lib/modules" "$img/lib/"
# modules.dep too, so the kernel's own module requests (busybox modprobe)
# find the modules in the image.
depmod -b "$img" "$kver"
ln -s ../bin/busybox "$img/sbin/modprobe"
cp "$kdir/modules" "$img/etc/harvnet-vm/modules"
cp "$out"/tests/*.test "$img/tests/"
mkdir -p "$img/etc/harvnet-vm/hooks"
for h in ${HARVNET_VM_HOOKS:-}; do cp "$h" "$img/etc/harvnet-vm/hooks/"; done
{
  for kv in ${HARVNET_VM_ENV:-}; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
  printf 'GO_TIMEOUT=%ss\n' "$go_timeout"
  printf 'KILL_AFTER=%s\n' "$((go_timeout + 30))"
  [[ -n $run ]] && printf 'GO_TEST_ARGS=%q\n' "-test.run=$run"
} >"$img/etc/harvnet-vm/config"
# Uncompressed: the emulated CPU unpacks it faster than it would gunzip it.
(cd "$img" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out/initrd.cpio"
say "initramfs $(du -m "$out/initrd.cpio" | cut -f1) MiB, kernel $kver"

# --------------------------------------------------------------------- boot
phase "booting $kver under qemu (TCG), console in ${log#"$root/"}"
accel=tcg,thread=multi
accel=${HARVNET_VM_ACCEL:-$accel}
qemu=(qemu-system-x86_64 -machine pc -accel "$accel" -cpu max -m "$mem" -smp "$smp"
  -nographic -no-reboot -nic none -monitor none
  -device isa-debug-exit,iobase=0xf4,iosize=0x04
  -kernel "$kdir/vmlinuz" -initrd "$out/initrd.cpio"
  -append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic")
# Progress filter: the VM's own lines, failures and what the tests prove.
show='^harvnet-vm: |^ *--- (FAIL|SKIP)|^(FAIL|panic:)|proved:|Kernel panic'
((verbose)) && show=.
set +e
# The console without carriage returns and the firmware's terminal escapes.
timeout -k 5 "$boot_timeout" "${qemu[@]}" </dev/null 2>&1 |
  sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' |
  tee "$log" | grep --line-buffered -E "$show" >&2
rc=${PIPESTATUS[0]}
set -e

# ------------------------------------------------------------------ summary
result=$(grep -E '^harvnet-vm: result passed=[0-9]+ failed=[0-9]+ skipped=[0-9]+' "$log" | tail -n1 || true)
if [[ -z $result ]]; then
  case $rc in
  124 | 137) why="did not report within ${boot_timeout}s (HARVNET_VM_TIMEOUT)" ;;
  0) why="stopped without reporting (/init died or the kernel panicked)" ;;
  *) why="qemu exited $rc without a report" ;;
  esac
  say "the VM $why; last console lines:"
  tail -n 25 "$log" >&2
  p=$(grep -cE '^ *--- PASS: ' "$log" || true)
  f=$(grep -cE '^ *--- FAIL: ' "$log" || true)
  echo "$p passed, $((f + 1)) failed"
  exit 1
fi
read -r p f s < <(sed -E 's/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+).*/\1 \2 \3/' <<<"$result")
# isa-debug-exit: /init wrote 0 (qemu exits 1) or 1 (qemu exits 3).
status=0
if [[ $rc -ne 1 ]]; then
  status=1
  [[ $rc -eq 3 ]] || say "qemu exited $rc after the VM reported"
fi
((f == 0)) || status=1
if ((s > 0)); then
  say "$s skipped in the VM:"
  grep -E '^ *--- SKIP: ' -B1 "$log" | grep -v '^--$' >&2 || true
fi
if ((f > 0)); then
  say "failed in the VM:"
  grep -E '^ *--- FAIL: ' "$log" >&2 || true
fi
say "total $((SECONDS - t0))s (console $log)"
echo "$p passed, $f failed"
exit $status
