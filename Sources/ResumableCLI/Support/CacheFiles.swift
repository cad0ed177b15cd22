#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// Copies of cached values out to the user's files and streams.
enum CacheFiles {
    /// Copies `source` to `destination` atomically: a temporary file beside
    /// it, synced, renamed over it, the directory synced.
    static func copyAtomically(_ source: String, to destination: String) throws {
        let temporary = destination + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let input = try FileSystem.openRegularFile(source, O_RDONLY)
        defer { close(input) }
        do {
            _ = try ResultCache.copy(from: input, path: source, toNewFile: temporary)
            try FileSystem.rename(temporary, to: destination, replacing: true)
            try FileSystem.sync(FilePath.parent(of: destination))
        } catch {
            _ = unlink(temporary)
            throw error
        }
    }

    /// Writes the file at `source` to standard output.
    static func copyToStandardOutput(_ source: String) throws {
        Terminal.flushStandardOutput()
        let input = try FileSystem.openRegularFile(source, O_RDONLY)
        defer { close(input) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ResumableError.system("read", path: source, errno: errno) }
            if n == 0 { return }
            var offset = 0
            while offset < n {
                let written = chunk.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, n - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { throw ResumableError.system("write", path: "standard output", errno: errno) }
                offset += written
            }
        }
    }

    /// Reads standard input to its end (at most `limit` bytes).
    static func readStandardInput(limit: Int64) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ResumableError.system("read", path: "standard input", errno: errno) }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if Int64(result.count) > limit {
                throw ResumableError(
                    .usage, "standard input holds more than \(limit) bytes; write the value to a file and `cache put KEY FILE`.")
            }
        }
    }
}
