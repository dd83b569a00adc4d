# Shared by scripts/vm-test.sh and scripts/vm-demo.sh; sourced, not run.
# The apt packages the VM needs, the cached Debian kernel with the modules
# in e2e/vm/modules, the busybox initramfs around e2e/vm/init, and qemu's
# command line. See e2e/vm/README.md.
#
# The caller sets root, vmdir, cache and out, defines say, fail and phase,
# and runs under `set -euo pipefail`; tmps is an array of paths it removes
# on exit.

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

# vm_lock takes the cache's lock on fd 9 (released when the caller exits or
# closes fd 9), so two runs never extract the kernel at the same time.
vm_lock() {
  mkdir -p "$cache/debs" "$cache/kernel" "$out"
  exec 9>"$cache/.lock"
  flock -w 600 9 || fail "another vm-test.sh or vm-demo.sh holds $cache/.lock"
}

# vm_kernel sets kver and kdir (vmlinuz, lib/modules, modules: the list
# /init loads). The kernel package is downloaded once per version; the
# module set is rebuilt from the cached .deb when e2e/vm/modules changes.
vm_kernel() {
  local kpkg=${HARVNET_VM_KERNEL:-} kdeb dl modkey x empty base mdir mod params deps kind path rel name dest
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
  [[ -f $kdir/.complete ]] && return 0
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
  local -A seen=()
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
}

# vm_image assembles $out/initrd.cpio (the tree in $out/root) from these
# arrays, all optional:
#   vm_lists   file lists in e2e/vm/files format besides e2e/vm/files
#   vm_tests   "src:name": test binaries, run by /init as /tests/name in name order
#   vm_hooks   "src:name": run by /init as /etc/harvnet-vm/hooks/name, in name order
#   vm_bins    "src:dst": programs, with the shared libraries ldd finds
#   vm_files   "src:dst": plain files
#   vm_main    a program /init runs instead of the tests (the demo)
# and vm_config, shell text for /etc/harvnet-vm/config (sourced by /init).
vm_image() {
  local img=$out/root a list line optional path arrow target f e
  img_root=$img
  rm -rf "$img"
  mkdir -p "$img"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/harvnet-vm/hooks,proc,sys,dev,run,tmp,root,var,tests}
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

  declare -gA vm_copied=()
  for list in "$vmdir/files" "${vm_lists[@]}"; do
    while read -r line; do
      [[ -z $line || $line == \#* ]] && continue
      optional=
      [[ $line == \?* ]] && optional=1 line=${line#\?}
      read -r path arrow target <<<"$line"
      if [[ $arrow == '->' ]]; then
        mkdir -p "$(dirname "$img$path")"
        ln -sfn "$target" "$img$path"
      elif [[ -d $path ]]; then
        while read -r f; do vm_copy "$f"; vm_copy_libs "$f"; done < <(find "$path" -type f)
      elif [[ -e $path ]]; then
        vm_copy "$path"
        vm_copy_libs "$path"
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
  for e in "${vm_tests[@]}"; do
    cp "${e%%:*}" "$img/tests/${e#*:}"
    vm_copy_libs "${e%%:*}"
  done
  for e in "${vm_hooks[@]}"; do cp "${e%%:*}" "$img/etc/harvnet-vm/hooks/${e#*:}"; done
  for e in "${vm_bins[@]}"; do
    mkdir -p "$(dirname "$img${e#*:}")"
    cp "${e%%:*}" "$img${e#*:}"
    vm_copy_libs "${e%%:*}"
  done
  for e in "${vm_files[@]}"; do
    mkdir -p "$(dirname "$img${e#*:}")"
    cp "${e%%:*}" "$img${e#*:}"
  done
  if [[ -n ${vm_main:-} ]]; then
    cp "$vm_main" "$img/etc/harvnet-vm/main"
    chmod 755 "$img/etc/harvnet-vm/main"
  fi
  printf '%s\n' "${vm_config:-}" >"$img/etc/harvnet-vm/config"
  # Uncompressed: the emulated CPU unpacks it faster than it would gunzip it.
  (cd "$img" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out/initrd.cpio"
  say "initramfs $(du -m "$out/initrd.cpio" | cut -f1) MiB, kernel $kver"
}

# vm_copy copies a host file (following links) to the same path in the image.
vm_copy() {
  [[ -n ${vm_copied[$1]:-} ]] && return 0
  vm_copied[$1]=1
  mkdir -p "$(dirname "$img_root$1")"
  cp -L "$1" "$img_root$1"
}

# vm_copy_libs copies the shared libraries of a host file, at their paths.
vm_copy_libs() {
  local lib
  # ldd on a non-ELF file or a static binary lists nothing useful.
  while read -r lib; do
    [[ -n $lib ]] && vm_copy "$lib"
  done < <(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}

# vm_net sets net, qemu's network arguments: none, or with an API server
# port, qemu's user-mode network with restrict=on, where the guest reaches
# nothing but 10.0.2.100:6443; each connection there starts a busybox nc to
# the API server on the host's loopback (cmd:, unlike a chardev, runs once
# per connection). romfile=: no PXE option ROM to load.
vm_net() {
  if [[ -n ${1:-} ]]; then
    net=(-netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:/bin/busybox nc 127.0.0.1 $1"
      -device e1000,netdev=n0,romfile=)
  else
    net=(-nic none)
  fi
}

# vm_qemu sets qemu, the command line booting $kdir's kernel with
# $out/initrd.cpio, the console on stdio and the network in net (vm_net).
vm_qemu() {
  local accel=${HARVNET_VM_ACCEL:-tcg,thread=multi}
  qemu=(qemu-system-x86_64 -machine pc -accel "$accel" -cpu max -m "${HARVNET_VM_MEM:-1024}" -smp "${HARVNET_VM_SMP:-2}"
    -nographic -no-reboot "${net[@]}" -monitor none
    -device isa-debug-exit,iobase=0xf4,iosize=0x04
    -kernel "$kdir/vmlinuz" -initrd "$out/initrd.cpio"
    -append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic")
}

# vm_watchdog starts a process that stops the qemu whose pid qemu writes to
# $1 (-pidfile) once the calling script has exited, also when it was
# SIGKILLed and its traps never ran.
vm_watchdog() {
  local main=$$
  (
    trap '' INT TERM HUP
    while kill -0 "$main" 2>/dev/null; do sleep 1; done
    vm_kill_qemu "$1"
  ) </dev/null >/dev/null 2>&1 &
}

# vm_kill_qemu stops the qemu whose pid is in $1 if it is still ours (its
# command line names $out/initrd.cpio), and waits up to 10 s for it to go.
vm_kill_qemu() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  grep -qaF -- "$out/initrd.cpio" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
  return 0
}

vm_lists=() vm_tests=() vm_hooks=() vm_bins=() vm_files=() vm_main= vm_config=

# vm_host_port <dir> <pid>: waits until vmhost (pid) wrote <dir>/ready and
# prints the API server port from it; returns 1, with the log's tail on
# stderr, if vmhost died or was not ready within 180 s.
vm_host_port() {
  local dir=$1 pid=$2 deadline=$((SECONDS + 180)) port
  until [[ -f $dir/ready ]]; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
      tail -n 30 "$dir/vmhost.log" >&2
      return 1
    fi
    sleep 0.2
  done
  port=$(sed -n 's/^port=//p' "$dir/ready")
  [[ $port =~ ^[0-9]+$ ]] || return 1
  echo "$port"
}

# vm_host_leftovers <dir>: should vmhost have died without stopping them,
# stops the control plane in <dir> by its pid files and kills the
# harvnet-controller of $out/bin whose command line names <dir>.
vm_host_leftovers() {
  local dir=$1 p argv0
  "$root/scripts/controlplane-down.sh" "$dir" >/dev/null 2>&1 || true
  for p in /proc/[0-9]*; do
    argv0=$( { tr '\0' '\n' <"$p/cmdline" | head -n1; } 2>/dev/null) || continue
    [[ $argv0 == "$out/bin/harvnet-controller" ]] && grep -qaF -- "$dir/" "$p/cmdline" 2>/dev/null &&
      kill -KILL "${p#/proc/}" 2>/dev/null
  done
  return 0
}
