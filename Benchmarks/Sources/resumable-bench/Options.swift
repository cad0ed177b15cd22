/// Command-line options of `resumable-bench` (see `usage`).
struct Options {
    var command = ""
    var phase = ""
    var directory = "/tmp/resumable-bench"
    var dModel = 768
    var adam = true
    var reps = 3
    var count = 10_000
    var binary: String?
    var method = "mmap"
    var idleMilliseconds = 2500

    var layout: StateLayout { StateLayout(dModel: dModel, adam: adam) }

    static let usage = """
        usage: resumable-bench COMMAND [options]
          save|save-nohash                    Resumable durable save (checksums on / off)
          open|load|touch                     Resumable read, --phase cold|warm, --method mmap|copy
          async                               blocking time of an asynchronous save vs a synchronous one
          listing                             ls / latest / status on a run of --count checkpoints
          resume --binary DIGITS              process start to the first resumed step of the digits example
          memcpy|memcpy-idle|sha256           memory copy (one core; all cores into memory idle 2.5 s), SHA-256
        options: --dir DIR  --d-model N  --no-adam  --reps N  --phase cold|warm  --count N  --binary PATH
        Prints one JSON object per result on stdout.
        """

    init(_ arguments: [String]) throws {
        var args = arguments[...]
        guard let first = args.popFirst() else { throw BenchFailure(Self.usage) }
        command = first
        func value(_ name: String) throws -> String {
            guard let v = args.popFirst() else { throw BenchFailure("\(name) needs a value\n\(Self.usage)") }
            return v
        }
        func int(_ name: String) throws -> Int {
            guard let n = Int(try value(name)) else { throw BenchFailure("\(name) needs a number") }
            return n
        }
        while let a = args.popFirst() {
            switch a {
            case "--dir": directory = try value(a)
            case "--d-model": dModel = try int(a)
            case "--no-adam": adam = false
            case "--reps": reps = try int(a)
            case "--phase": phase = try value(a)
            case "--count": count = try int(a)
            case "--binary": binary = try value(a)
            case "--method": method = try value(a)
            case "--idle-ms": idleMilliseconds = try int(a)
            default: throw BenchFailure("unknown option \(a)\n\(Self.usage)")
            }
        }
    }
}
