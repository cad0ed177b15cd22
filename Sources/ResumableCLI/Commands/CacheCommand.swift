import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Resumable

/// `resumable cache`: the content-addressed result cache from any language (docs/CACHE.md).
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Values computed once per key, stored durably, shared by every process (docs/CACHE.md).",
        discussion: """
            The cache directory is --dir, else $RESUMABLE_CACHE_DIR (a sweep sets it to RUN/cache for \
            its units); without either the command fails (exit 64). Values are stored under the SHA-256 \
            of their key and checked (length and SHA-256) on every read: a damaged entry is reported, \
            removed and treated as absent. Exit codes: 0 success, 64 usage, 65 the cache is damaged \
            beyond an entry (a directory replaced by a link), 66 no value for the key, 74 I/O error, \
            75 --timeout passed while another process computed the key.
            """,
        subcommands: [
            CacheGetCommand.self, CachePutCommand.self, CacheRunCommand.self, CacheListCommand.self,
            CacheRemoveCommand.self,
        ]
    )
}

/// `--dir` and `--timeout`, shared by the cache commands.
struct CacheOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The cache directory (default: $RESUMABLE_CACHE_DIR).", valueName: "DIR"))
    var dir: String?

    @Option(help: ArgumentHelp("Seconds to wait while another process computes or writes the same key (default: as long as it takes).", valueName: "SECONDS"))
    var timeout: Double?

    func validate() throws {
        if let timeout, !(timeout >= 0 && timeout.isFinite) {
            throw ValidationError("--timeout must be a number of seconds, 0 or more, not \(timeout).")
        }
        if let dir, dir.isEmpty { throw ValidationError("--dir needs a directory.") }
    }

    /// The cache: `--dir`, else `$RESUMABLE_CACHE_DIR`.
    /// - Throws: `.usage` when neither is given.
    func cache() throws -> ResultCache {
        var directory = dir
        if directory == nil, let value = getenv("RESUMABLE_CACHE_DIR"), !String(cString: value).isEmpty {
            directory = String(cString: value)
        }
        guard let directory else {
            throw ResumableError(
                .usage, "no cache directory: pass --dir DIR or set RESUMABLE_CACHE_DIR (a sweep sets it for its units).")
        }
        return ResultCache(directory: directory, lockTimeout: timeout, logger: Logger(label: "resumable.cache"))
    }

    /// The error for a key with no value.
    static func absent(_ key: String, in cache: ResultCache) -> ResumableError {
        ResumableError(.notFound, "no value is cached for the key \"\(key)\" in \(cache.directory).", path: cache.directory)
    }
}

/// `resumable cache get KEY [FILE]`.
struct CacheGetCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Write the value of KEY to FILE (atomically) or to standard output.",
        discussion: """
            The value is checked (length and SHA-256) before a byte is written. Exit 66 when the key \
            has no value, or its entry was damaged (it is then removed and a warning names it).
            """)

    @Argument(help: "The key.") var key: String
    @Argument(help: ArgumentHelp("Where to write the value (default or `-`: standard output).", valueName: "FILE"))
    var file: String?
    @OptionGroup var options: CacheOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let cache = try options.cache()
        guard let path = try cache.cachedFile(for: key) else { throw CacheOptions.absent(key, in: cache) }
        if let file, file != "-" {
            try CacheFiles.copyAtomically(path, to: file)
        } else {
            try CacheFiles.copyToStandardOutput(path)
        }
    }
}

/// `resumable cache put KEY FILE`.
struct CachePutCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store the bytes of FILE (`-`: standard input) as the value of KEY, replacing any value it had.",
        discussion: "Standard input is read into memory (at most 1 GiB); a file of any size is streamed.")

    @Argument(help: "The key.") var key: String
    @Argument(help: ArgumentHelp("The file holding the value, `-` for standard input.", valueName: "FILE"))
    var file: String
    @OptionGroup var options: CacheOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let cache = try options.cache()
        if file == "-" {
            try cache.put(key, try CacheFiles.readStandardInput(limit: ResultCache.maximumValueBytes))
        } else {
            try cache.put(key, contentsOf: file)
        }
    }
}

/// `resumable cache ls`.
struct CacheListCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the cached keys with their sizes and creation times.",
        discussion: "Lists the records only; `cache get` checks a value. An empty or missing cache lists nothing.")

    @OptionGroup var options: CacheOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let entries = try options.cache().entries()
        if output.json {
            Terminal.writeJSON(
                .object([
                    "entries": .array(
                        entries.map {
                            .object([
                                "key": .string($0.key), "bytes": .int($0.bytes), "sha256": .string($0.sha256),
                                "created_at": .string($0.createdAt), "path": .string($0.path),
                            ])
                        })
                ]))
            return
        }
        var table = TextTable([("KEY", .left), ("BYTES", .right), ("CREATED", .left)])
        for entry in entries { table.append([entry.key, HumanFormat.bytes(entry.bytes), entry.createdAt]) }
        Terminal.write(table.rendered())
    }
}

/// `resumable cache rm KEY…`.
struct CacheRemoveCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove the values of the given keys.",
        discussion: "Every key is tried; exit 66 when one of them had no value (the others are removed all the same).")

    @Argument(help: "The keys.") var keys: [String]
    @OptionGroup var options: CacheOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if keys.isEmpty { throw ValidationError("Give at least one key to remove.") }
    }

    func run() throws {
        let cache = try options.cache()
        var absent: [String] = []
        for key in keys {
            if try !cache.remove(key) { absent.append(key) }
        }
        if !absent.isEmpty {
            throw ResumableError(
                .notFound,
                "no value is cached for \(absent.map { "\"\($0)\"" }.joined(separator: ", ")) in \(cache.directory).",
                path: cache.directory)
        }
    }
}
