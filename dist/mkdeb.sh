#!/bin/bash
# make deb: build the Debian package from a copy of this tree in $B/deb,
# check it with lintian, and print the .deb's path as the last line.
#
#   $B/deb/llmfb-VERSION/   the copy (the working tree as it is, without
#                           .git and build outputs); dpkg-buildpackage
#                           runs there, and it is removed afterwards (the
#                           Makefile includes every *.d under $B: the
#                           copy's dependency files and its debian/llmfb
#                           tree, with usr/lib/sysusers.d, would break the
#                           next make)
#   $B/deb/llmfb_*.deb      the package, beside its .changes, .buildinfo,
#                           the -dbgsym package and build.log
#
# Works offline, as root or not (Rules-Requires-Root: no).  lintian's
# warnings are shown; an error fails the script.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=${B:-build}
case $B in
/*) ;;
*) B=$top/$B ;;
esac

for tool in dpkg-buildpackage dpkg-parsechangelog dh lintian; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "mkdeb: $tool is missing (tests/deps.sh installs it)" >&2
		exit 1
	fi
done

pkg=$(dpkg-parsechangelog -l debian/changelog -S Source)
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version#*:}
upstream=${upstream%-*}
code_version=$(sed -n 's/^#define LLMFB_VERSION[^"]*"\(.*\)"/\1/p' \
    common/ctl_proto.h)
if [ "$upstream" != "$code_version" ]; then
	echo "mkdeb: warning: debian/changelog says $version," \
	    "common/ctl_proto.h says $code_version" >&2
fi

out=$B/deb
src=$out/$pkg-$upstream
rm -rf "$src"
rm -f "$out/${pkg}"_* "$out/${pkg}-dbgsym"_* "$out/build.log"
mkdir -p "$src"
trap 'rm -rf "$src"' EXIT

# The copy: everything but the repository, build trees, editor and object
# droppings, and what an earlier in-tree dpkg-buildpackage left in debian/.
excl=(--exclude=./.git --exclude='./build' --exclude='./build-*'
    --exclude=./run --exclude='*.o'
    --exclude='*~' --exclude='*.swp'
    --exclude="./debian/$pkg" --exclude=./debian/.debhelper
    --exclude=./debian/tmp --exclude=./debian/files
    --exclude='./debian/*.substvars' --exclude='./debian/*.debhelper.log'
    --exclude=./debian/debhelper-build-stamp)
# $B itself, when it is inside the tree under another name.
case $B/ in
"$top"/*) excl+=(--exclude="./${B#"$top"/}") ;;
esac
tar -C "$top" "${excl[@]}" -cf - . | tar -C "$src" -xf -

# A clean environment for the inner build: nothing from an outer make
# (its flags, jobserver, variables) leaks into debian/rules.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
unset CFLAGS CPPFLAGS CXXFLAGS LDFLAGS OPT PREFIX V BPF
case " ${DEB_BUILD_OPTIONS:-} " in
*" parallel="*) ;;
*) DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)" ;;
esac
export DEB_BUILD_OPTIONS

echo "mkdeb: building $pkg $version in $src"
status=0
(cd "$src" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1 || status=$?
rm -rf "$src"
if [ "$status" != 0 ]; then
	tail -40 "$out/build.log" >&2
	echo "mkdeb: dpkg-buildpackage failed; the whole log: $out/build.log" >&2
	exit 1
fi

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$out/${pkg}_${version#*:}_$arch.deb
changes=$out/${pkg}_${version#*:}_$arch.changes
if [ ! -f "$deb" ] || [ ! -f "$changes" ]; then
	echo "mkdeb: no $deb or $changes after the build" >&2
	exit 1
fi

echo "mkdeb: lintian $(basename "$changes")"
status=0
lintian --fail-on error "$changes" || status=$?
if [ "$status" != 0 ]; then
	echo "mkdeb: lintian reports errors (exit $status)" >&2
	exit 1
fi
echo "$deb"
