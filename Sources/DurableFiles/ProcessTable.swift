import Glibc

/// What `/proc` says about processes (Linux): parent, process group, state
/// and start time, read from `/proc/PID/stat`. Used to find a job's
/// processes after its supervisor died and to find orphans a supervisor
/// adopted. Elsewhere (no `/proc`) every answer is empty.
package enum ProcessTable {
    /// One process as `/proc/PID/stat` describes it.
    package struct Entry: Sendable, Equatable {
        package var pid: Int32
        package var parent: Int32
        package var processGroup: Int32
        /// The state letter: `R`, `S`, `D`, `Z` (a zombie: dead, not yet collected), …
        package var state: Character
        /// Start time in clock ticks after boot (field 22): with the boot id,
        /// it tells a process from a later one that reuses its pid.
        package var startTicks: UInt64

        /// Whether the process is running (a zombie has ended already).
        package var isAlive: Bool { state != "Z" && state != "X" }
    }

    /// The process `pid`, or `nil` if there is none.
    package static func entry(_ pid: Int32) -> Entry? {
        guard pid > 0, let bytes = try? FileSystem.readFile("/proc/\(pid)/stat", limit: 1 << 16) else { return nil }
        return parseStat(bytes, pid: pid)
    }

    /// Parses `/proc/PID/stat`; the command name in parentheses may hold spaces and parentheses.
    static func parseStat(_ bytes: [UInt8], pid: Int32) -> Entry? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first, let parent = Int32(fields[1]),
            let group = Int32(fields[2]), let start = UInt64(fields[19])
        else { return nil }
        return Entry(pid: pid, parent: parent, processGroup: group, state: state, startTicks: start)
    }

    /// Every process the caller can see.
    package static func all() -> [Entry] {
        guard let names = try? FileSystem.contents(of: "/proc") else { return [] }
        return names.compactMap { Int32($0) }.compactMap { entry($0) }
    }

    /// The live (not zombie) processes whose process group is `group`.
    package static func liveMembers(ofGroup group: Int32) -> [Int32] {
        guard group > 0 else { return [] }
        return all().filter { $0.processGroup == group && $0.isAlive }.map(\.pid).sorted()
    }

    /// The children of `parent` (live and zombie).
    package static func children(of parent: Int32) -> [Entry] {
        all().filter { $0.parent == parent }
    }

    /// The command line of `pid` (arguments joined by spaces), or its name in
    /// brackets for a kernel thread or a zombie, or `?`.
    package static func commandLine(_ pid: Int32) -> String {
        if let bytes = try? FileSystem.readFile("/proc/\(pid)/cmdline", limit: 1 << 16), !bytes.isEmpty {
            let text = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            return text.count > 200 ? String(text.prefix(200)) + "…" : text
        }
        if let bytes = try? FileSystem.readFile("/proc/\(pid)/comm", limit: 4096) {
            return "[" + String(decoding: bytes, as: UTF8.self).filter { $0 != "\n" } + "]"
        }
        return "?"
    }

    /// `pid (command line)` for each pid, joined by commas, for messages.
    package static func describe(_ pids: [Int32]) -> String {
        pids.map { "\($0) (\(commandLine($0)))" }.joined(separator: ", ")
    }
}
