#!/bin/sh
# Runs the Go binding's tests against a meson build tree of libdatamodel.
#
#   bindings/go/test.sh BUILD_DIR [go test flags...]
#
# BUILD_DIR is absolute or relative to the repository root (e.g. "build").
# Exits with go test's status.
#
# meson writes BUILD_DIR/meson-uninstalled/datamodel-uninstalled.pc, which
# pkg-config prefers over an installed datamodel.pc, so cgo's
# `#cgo pkg-config: datamodel` compiles and links against the build tree.
# The shared library is found at run time through LD_LIBRARY_PATH, set from
# the .pc file's -L paths.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [go test flags...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
shift
case $build in
    /*) ;;
    *) build=$root/$build ;;
esac
if [ ! -f "$build/meson-uninstalled/datamodel-uninstalled.pc" ]; then
    echo "$0: $build/meson-uninstalled/datamodel-uninstalled.pc not found: build the library first" \
         "(meson setup $build && ninja -C $build)" >&2
    exit 2
fi

PKG_CONFIG_PATH=$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
srcdir=$(pkg-config --variable=srcdir datamodel)
libdirs=$(pkg-config --libs-only-L datamodel | sed -e 's/^-L//' -e 's/ -L/:/g' -e 's/ *$//')
CGO_CFLAGS="${CGO_CFLAGS:--g -O2} -I${srcdir:-$root}/include" # harmless with the .pc's own -I
LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Only the standard library is used: never reach for a module proxy.
GOPROXY=off
GOFLAGS=${GOFLAGS:--mod=mod}
export CGO_CFLAGS LD_LIBRARY_PATH GOPROXY GOFLAGS

cd "$here"
# gofmt's layout, checked (gofmt ships with go).
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
    echo "$0: not gofmt-formatted (run gofmt -w):" $unformatted >&2
    exit 1
fi
set +e
go test -count=1 "$@" ./...
