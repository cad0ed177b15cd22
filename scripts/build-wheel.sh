#!/usr/bin/env bash
# Builds the platform wheel: the `resumable` command (release build, the Swift
# runtime linked in statically, no fault injection) and the pure-Python package
# of python/resumable/ in one
#   resumable-<version>-py3-none-manylinux_<glibc major>_<minor>_<arch>.whl
# shipped the way ruff and uv ship theirs: the binary is a script of the wheel
# (resumable-<version>.data/scripts/resumable), so pip puts it in the
# environment's bin/, where `resumable` finds it (find_binary), and nobody who
# installs it needs a Swift toolchain. The tag is the machine's glibc, which the
# binary links dynamically: build on the oldest glibc you want to support.
#
# Usage: scripts/build-wheel.sh [OUTDIR]   (default: dist/)
# Prints the wheel's path on standard output; progress goes to standard error.
# The release build lives in .build/wheel (not .build/release, nor the tests'
# debug build, which has fault injection) and is reused when no source changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-dist}
case $out in /*) ;; *) out=$root/$out ;; esac

# Release wheels never contain fault injection: Package.swift compiles it in
# only with RESUMABLE_FAULT_INJECTION=1, so this build runs without it.
unset RESUMABLE_FAULT_INJECTION
build_path=.build/wheel
flags=(-c release --product resumable --static-swift-stdlib --build-path "$build_path")
bin_dir=$build_path/release
binary=$bin_dir/resumable

# Reuse the last build when it is newer than every source file and the manifest.
if [ -x "$binary" ] && [ -z "$(find Sources Package.swift -newer "$binary" -print -quit 2>/dev/null)" ] \
    && { [ ! -e Package.resolved ] || [ ! Package.resolved -nt "$binary" ]; }; then
  echo "build-wheel: reusing $binary (no source changed since it was built)" >&2
else
  echo "build-wheel: swift build ${flags[*]}" >&2
  start=$(date +%s)
  set +o pipefail
  swift build "${flags[@]}" 2>&1 | grep -v '^\[' >&2
  status=${PIPESTATUS[0]}
  set -o pipefail
  [ "$status" -eq 0 ] || { echo "build-wheel: the release build failed (exit $status)" >&2; exit 1; }
  echo "build-wheel: release build took $(( $(date +%s) - start )) s" >&2
fi
[ -x "$binary" ] || { echo "build-wheel: $binary was not built" >&2; exit 1; }

# The binary must run without a Swift toolchain: no Swift runtime, Foundation or
# Dispatch library may be linked dynamically (--static-swift-stdlib links them in).
deps=$(ldd "$binary")
if swift_libs=$(printf '%s\n' "$deps" | grep -E 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime'); then
  echo "build-wheel: $binary links Swift libraries dynamically, so it would need a Swift toolchain where it is installed:" >&2
  printf '%s\n' "$swift_libs" >&2
  echo "build-wheel: build it with --static-swift-stdlib (and a toolchain whose static libraries are installed: usr/lib/swift_static)" >&2
  exit 1
fi
if printf '%s\n' "$deps" | grep -q 'not found'; then
  echo "build-wheel: $binary needs libraries this machine does not have:" >&2
  printf '%s\n' "$deps" >&2
  exit 1
fi
# And it must not be able to inject faults (the string is compiled in only with fault injection).
if LC_ALL=C grep -qa 'RESUMABLE_FAULT' "$binary"; then
  echo "build-wheel: $binary was built with fault injection (RESUMABLE_FAULT_INJECTION=1); remove $build_path and build again" >&2
  exit 1
fi

# The wheel carries a copy without debug information (symbols are kept, so a
# crash's backtrace still names functions).
staging=$(mktemp -d "${TMPDIR:-/tmp}/resumable-wheel.XXXXXX")
trap 'rm -rf "$staging"' EXIT
cp "$binary" "$staging/resumable"
if command -v strip >/dev/null; then
  strip --strip-debug "$staging/resumable"
else
  echo "build-wheel: strip not found (binutils); the binary keeps its debug information" >&2
fi
"$staging/resumable" --version >/dev/null || { echo "build-wheel: the built binary does not run" >&2; exit 1; }

mkdir -p "$out"
python3 scripts/pack-wheel.py --binary "$staging/resumable" --project python --out "$out"
