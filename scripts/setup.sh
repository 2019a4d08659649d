#!/bin/bash
# Install what thinpack needs to build and test on Debian 12 (as root),
# then configure and build it in build/.  Safe to run again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

packages=(
	# build
	gcc clang make autoconf automake pkg-config
	libext2fs-dev comerr-dev libblkid-dev libmount-dev libjson-c-dev
	libcmocka-dev libsystemd-dev libinih-dev libdevmapper-dev libexpat1-dev
	# tests and demo (systemd: systemd-analyze for the unit's test; strace:
	# how offline-crash sees the superblock written)
	e2fsprogs util-linux xfsprogs python3 coreutils systemd strace
	# benchmarks (bench/foreground)
	fio
	# the VM tier (tests/vm, make check-vm): the guest runs the host's
	# userspace; kernels come with apt-get download, never installed
	qemu-system-x86 busybox-static lvm2 thin-provisioning-tools
	cpio kmod xz-utils zstd debian-archive-keyring
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages: ${missing[*]}; run as root" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure -q --sysconfdir=/etc --localstatedir=/var --runstatedir=/run ${THINPACK_CONFIGURE_FLAGS-}
make -j"$(nproc)" >/dev/null
echo "setup: built $top/build/thinpack" >&2
