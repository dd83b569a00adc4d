# Shared by scripts/vm-test.sh and scripts/vm-demo.sh; sourced, not run.
# The part of the VM tier that is apt's and dpkg's: the packages the VM
# needs and the cached Debian kernel with the modules in e2e/vm/modules.
# Everything after that (builds, image, qemu, results) is e2e/vm/vmrun,
# which vm_exec_vmrun builds and execs. See e2e/vm/README.md.
#
# The caller sets root and vmdir, defines say, fail and phase, and runs
# under `set -euo pipefail`; tmps is an array of paths it removes on exit.

export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export HARVNET_VM_T0=${HARVNET_VM_T0:-$(date +%s)} # vmrun's timings go on from here
if [[ $EUID -eq 0 ]]; then
  cache=${HARVNET_VM_CACHE:-/var/cache/harvnet-vm}
else
  cache=${HARVNET_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/harvnet-vm}
fi

# vm_packages installs what is missing of the VM's apt packages (root only).
# ebtables gives ebtables-legacy, iptables gives xtables-nft-multi; both are
# copied into the VM with iproute2's ip and bridge and iputils' ping.
vm_packages() {
  local pkgs=(qemu-system-x86 busybox-static cpio kmod ebtables iptables iproute2 iputils-ping procps)
  local missing=() p apt_log
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
}

# vm_lock takes the cache's lock on fd 9 (released when the holder exits or
# closes fd 9; vmrun keeps it from its children), so two runs never extract
# the kernel at the same time.
vm_lock() {
  mkdir -p "$cache/debs" "$cache/kernel"
  exec 9>"$cache/.lock"
  flock -w 600 9 || fail "another vm-test.sh or vm-demo.sh holds $cache/.lock"
}

# vm_kernel sets kver and kdir (vmlinuz, lib/modules with modules.dep,
# modules: the list /init loads). The kernel package is downloaded once per
# version; the module set is rebuilt from the cached .deb when
# e2e/vm/modules changes.
vm_kernel() {
  local kpkg=${HARVNET_VM_KERNEL:-} kdeb dl modkey x empty base mdir mod params deps kind path rel dest
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

  # v2: the set carries its modules.dep.
  modkey=$({ echo v2; grep -v '^\s*#' "$vmdir/modules"; } | sha256sum | cut -c1-12)
  kdir=$cache/kernel/$(basename "$kdeb" .deb)-$modkey
  [[ -f $kdir/.complete ]] && return 0
  phase "extracting $kver and resolving modules"
  rm -rf "$kdir"
  x=$(mktemp -d "$cache/.x.XXXXXX")
  empty=$(mktemp -d)
  tmps+=("$x" "$empty")
  dpkg-deb -x "$kdeb" "$x"
  base=$x
  [[ -d $base/lib/modules/$kver ]] || base=$x/usr
  mdir=$base/lib/modules/$kver
  [[ -d $mdir && -f $x/boot/vmlinuz-$kver ]] || fail "no vmlinuz or lib/modules/$kver in $kdeb"
  depmod -b "$base" "$kver"
  mkdir -p "$kdir/lib/modules/$kver"
  cp "$x/boot/vmlinuz-$kver" "$kdir/vmlinuz"
  cp "$mdir"/modules.{builtin,builtin.modinfo,order} "$kdir/lib/modules/$kver/"
  : >"$kdir/modules"
  local -A seen=()
  while read -r mod params; do
    [[ -z $mod || $mod == \#* ]] && continue
    deps=$(modprobe -C "$empty" -d "$base" -S "$kver" --show-depends "$mod") || fail "module $mod not found in $kpkg"
    while read -r kind path _; do
      [[ $kind == insmod ]] || continue # builtin
      rel=${path#"$mdir/"}
      [[ -n ${seen[$rel]:-} ]] && continue
      seen[$rel]=1
      dest=$kdir/lib/modules/$kver/$rel
      mkdir -p "$(dirname "$dest")"
      case $rel in # the VM's insmod reads neither
      *.ko.xz) xz -dc "$path" >"${dest%.xz}"; rel=${rel%.xz} ;;
      *.ko.zst) zstd -qdc "$path" >"${dest%.zst}"; rel=${rel%.zst} ;;
      *) cp "$path" "$dest" ;;
      esac
      # Parameters go to the module named in the list, not to its dependencies.
      if [[ $(basename "$rel" .ko) == "${mod//-/_}" ]]; then echo "$rel $params"; else echo "$rel"; fi >>"$kdir/modules"
    done <<<"$deps"
  done <"$vmdir/modules"
  # modules.dep of the set, so the kernel's own module requests (busybox
  # modprobe in the VM) find them.
  depmod -b "$kdir" "$kver"
  touch "$kdir/.complete"
}

# vm_exec_vmrun <out> <mode> [args]: builds e2e/vm/vmrun into <out>/bin and
# execs it (it inherits the cache's lock) for the cached kernel.
vm_exec_vmrun() {
  local out=$1 mode=$2
  shift 2
  mkdir -p "$out/bin"
  (cd "$root" && go build -o "$out/bin/vmrun" ./e2e/vm/vmrun) || fail "go build ./e2e/vm/vmrun failed"
  exec "$out/bin/vmrun" "$mode" -root "$root" -kernel "$kdir" -out "$out" "$@"
}
