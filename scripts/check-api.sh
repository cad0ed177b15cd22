#!/usr/bin/env bash
# Checks the library's shape (issue 11, items 10 and 11), from the built
# modules' symbol graphs: the public API is what users call — no file-system,
# path, errno, timestamp, formatting or fault-injection helpers, and no method
# added to every RandomNumberGenerator — and no library target imports
# Foundation (FoundationEssentials where Codable is needed).
# Usage: scripts/check-api.sh (after swift build; scripts/test.sh runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

if grep -rlE '^(public |package )?import Foundation$' Sources --include='*.swift' | grep -v '^Sources/ResumableCLI/'; then
  echo "check-api: the library files above import Foundation; use FoundationEssentials, the standard library or Glibc" >&2
  status=1
fi

swift package dump-symbol-graph >/dev/null 2>.build/check-api.log || { cat .build/check-api.log >&2; exit 1; }
graphs=$(find .build -path '*symbolgraph*' -name '*.symbols.json' | grep -E '/(JSON|DurableFiles|SafeTensors|CheckpointStore|Training|Supervisor|Pipelines|Sweeps|ResultCache)\.symbols\.json$')
python3 - $graphs <<'PY' || status=1
import json, sys
internal = {"FileSystem", "FilePath", "Errno", "Parallel", "Timestamp", "HumanFormat", "FaultInjection", "FaultScope",
            "FaultPoint", "SignalName", "ProcessTable", "DurableFile", "MappedFile", "SourceFile", "ChecksummingWriter",
            "RunLock", "SnapshotBuffer", "Sparkline", "IOBufferPool", "WorkerThread", "HashPairing", "Condition"}
bad = []
for path in sys.argv[1:]:
    graph = json.load(open(path))
    module = graph["module"]["name"]
    for symbol in graph["symbols"]:
        if symbol.get("accessLevel") != "public":
            continue
        names = symbol["pathComponents"]
        if names[0] in internal:
            bad.append(f"{module}.{'.'.join(names)}")
        # A public member of an extension of a standard-library protocol (every RandomNumberGenerator, …).
        ext = symbol.get("swiftExtension", {}).get("extendedModule")
        if ext == "Swift" and len(names) == 2 and names[0] in {"RandomNumberGenerator", "Collection", "Sequence", "Array"}:
            bad.append(f"{module}: {'.'.join(names)} (extends the standard library for every program)")
if bad:
    print("check-api: these must not be public (package access instead):", file=sys.stderr)
    for b in sorted(set(bad))[:50]:
        print("  " + b, file=sys.stderr)
    sys.exit(1)
print(f"check-api: public API of {len(sys.argv) - 1} modules checked", file=sys.stderr)
PY
exit $status
