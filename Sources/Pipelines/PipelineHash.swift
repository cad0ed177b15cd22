import DurableFiles
import Glibc

/// Content hashes for fingerprints: strings, files and directory trees,
/// never read through a symbolic link.
package enum PipelineHash {
    /// The hash recorded for an input that does not exist.
    package static let missing = "missing"
    /// At most this many entries in one input directory tree.
    package static let maxEntries = 100_000
    /// At most this deep a directory tree.
    package static let maxDepth = 64

    package static func sha256(_ text: String) -> String {
        var t = text
        return t.withUTF8 { Checksum.sha256(UnsafeRawBufferPointer($0)) }
    }

    /// The hash of an environment: the SHA-256 of its `NAME=VALUE\n` lines sorted by name.
    package static func environment(_ env: [String: String]) -> String {
        sha256(env.keys.sorted().map { "\($0)=\(env[$0]!)\n" }.joined())
    }

    /// The SHA-256 and size of a regular file, opened without following a link.
    package static func file(_ path: String) throws -> (sha256: String, bytes: Int64) {
        let fd = try FileSystem.openRegularFile(path, O_RDONLY)
        defer { close(fd) }
        var checksum = Checksum()
        var total: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ResumableError(.io, "Cannot read \(path): \(String(cString: strerror(errno))).", path: path, errno: errno)
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += Int64(n)
        }
        return (checksum.finalize(), total)
    }

    /// The hash of an input: a file's content; a directory's sorted entries
    /// (relative path, kind and content hash of each, recursively); a symbolic
    /// link's target text (the link is not followed); ``missing`` when nothing is there.
    /// - Throws: `.usage` for a FIFO, socket or device, or a tree over the limits; read errors.
    package static func input(_ path: String) throws -> String {
        switch FileSystem.entryType(path) {
        case .missing: return missing
        case .regular: return try file(path).sha256
        case .symbolicLink: return sha256("link " + linkTarget(path))
        case .other:
            throw ResumableError(.usage, "The input \(path) is a FIFO, socket or device; inputs are files or directories.", path: path)
        case .directory:
            var lines = ""
            var entries = 0
            try walk(path, relative: "", depth: 0, entries: &entries, into: &lines)
            return sha256("directory\n" + lines)
        }
    }

    private static func walk(_ path: String, relative: String, depth: Int, entries: inout Int, into lines: inout String) throws {
        guard depth < maxDepth else {
            throw ResumableError(.usage, "The input directory \(path) nests deeper than \(maxDepth) levels.", path: path)
        }
        for name in try FileSystem.contents(of: path).sorted() {
            entries += 1
            guard entries <= maxEntries else {
                throw ResumableError(.usage, "The input directory holds more than \(maxEntries) entries; name smaller inputs.", path: path)
            }
            let child = path + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            switch FileSystem.entryType(child) {
            case .regular: lines += "file \(rel.debugDescription) \(try file(child).sha256)\n"
            case .directory:
                lines += "dir \(rel.debugDescription)\n"
                try walk(child, relative: rel, depth: depth + 1, entries: &entries, into: &lines)
            case .symbolicLink: lines += "link \(rel.debugDescription) \(linkTarget(child).debugDescription)\n"
            case .other: lines += "other \(rel.debugDescription)\n"
            case .missing: break  // removed while walking
            }
        }
    }

    private static func linkTarget(_ path: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n >= 0 else { return "" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
