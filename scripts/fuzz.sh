#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the safetensors header parser, the
# manifest decoder and the JSON parser. Usage: scripts/fuzz.sh [SECONDS] [libFuzzer options…]
#
# Compiles JSON, DurableFiles, SafeTensors and CheckpointStore from Sources/
# with `swiftc -sanitize=fuzzer,address` (their dependencies, swift-log and
# swift-crypto, come uninstrumented from a normal `swift build`), links
# Fuzz/HeaderFuzzer/main.swift, and runs it for SECONDS (default 60) on a
# corpus seeded from Fuzz/HeaderFuzzer/seeds. Exits non-zero when libFuzzer
# finds a crash; the input is saved under .build/fuzz/artifacts/. See docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
out=.build/fuzz
mkdir -p "$out/corpus" "$out/artifacts"

echo "== building dependencies (swift build)" >&2
swift build --target CheckpointStore 2>&1 | grep -E "error|warning: unre" >&2 || true
deps=.build/debug
[ -d "$deps/Modules" ] || { echo "swift build did not produce $deps/Modules" >&2; exit 1; }

flags=(-swift-version 6 -parse-as-library -Onone -D DEBUG -sanitize=fuzzer,address -package-name resumable
       -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
       -enable-upcoming-feature InternalImportsByDefault
       -I "$out" -I "$deps/Modules"
       -Xcc -fmodule-map-file="$deps/CSystemShims.build/module.modulemap" -Xcc -ISources/CSystemShims/include)

for module in JSON DurableFiles SafeTensors CheckpointStore; do
  echo "== instrumenting $module" >&2
  swiftc "${flags[@]}" -module-name "$module" -wmo -emit-module -emit-module-path "$out/$module.swiftmodule" \
    -emit-object -o "$out/$module.o" Sources/$module/*.swift
done

echo "== linking the fuzzer" >&2
dep_objects=$(find "$deps/Logging.build" "$deps/Crypto.build" "$deps/CryptoBoringWrapper.build" \
  "$deps/CCryptoBoringSSL.build" "$deps/CCryptoBoringSSLShims.build" -name '*.o')
# The shims' objects of the C files there are now (an older build may have left others behind).
for c in Sources/CSystemShims/*.c; do dep_objects+=" $deps/CSystemShims.build/$(basename "$c").o"; done
swiftc "${flags[@]}" -module-name HeaderFuzzer Fuzz/HeaderFuzzer/main.swift \
  "$out"/JSON.o "$out"/DurableFiles.o "$out"/SafeTensors.o "$out"/CheckpointStore.o $dep_objects \
  -lstdc++ -o "$out/header-fuzzer"

echo "== fuzzing for $seconds s" >&2
exec "$out/header-fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 "$@" "$out/corpus" Fuzz/HeaderFuzzer/seeds
