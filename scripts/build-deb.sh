#!/bin/bash
# Build the Debian package from debian/ the way CI does: copy the tree (the
# files git knows, or the unpacked release tarball) to
# OUT/thinpack-VERSION, run dpkg-buildpackage -us -uc -b there, and lintian
# on the result.  Never builds in the tree itself.
#   scripts/build-deb.sh [OUT]     OUT: default $PKGBUILD_DIR or ../pkgbuild
# As root it installs what the build needs with apt-get.  Exit status:
# non-zero if the build fails or lintian finds errors (warnings are listed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${PKGBUILD_DIR:-$(dirname "$top")/pkgbuild}}

need() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	if [ "$(id -u)" -ne 0 ]; then
		echo "build-deb: missing packages: ${missing[*]}; run as root" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}
need dpkg-dev debhelper lintian rsync fakeroot

version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
src=$out/thinpack-${version%-*}
mkdir -p "$out"
rm -rf "$src"
mkdir "$src"
echo "build-deb: copying $top to $src" >&2
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked and untracked-but-not-ignored files, as they are now (the
	# ones deleted in the work tree are skipped).
	git -C "$top" ls-files -z -co --exclude-standard |
		rsync -a --from0 --files-from=- --ignore-missing-args "$top/" "$src/"
else
	rsync -a --exclude='/build*/' --exclude='/autom4te.cache/' \
		--exclude='*.o' --exclude='*.a' --exclude='/config.status' \
		--exclude='/config.log' --exclude='/Makefile' "$top/" "$src/"
fi

cd "$src"
if ! dpkg-checkbuilddeps 2>/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		dpkg-checkbuilddeps
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq \
		--no-install-recommends "$src" >/dev/null
fi

echo "build-deb: dpkg-buildpackage -us -uc -b in $src" >&2
dpkg-buildpackage -us -uc -b

changes=$out/thinpack_${version}_${arch}.changes
echo "build-deb: lintian $changes" >&2
status=0
lintian --tag-display-limit 0 "$changes" || status=$?
if [ $status -ne 0 ]; then
	echo "build-deb: lintian found errors" >&2
	exit 1
fi
for deb in $(grep -o '[^ ]*\.deb$' "$changes" | sort -u); do
	echo "build-deb: built $out/$deb" >&2
done
