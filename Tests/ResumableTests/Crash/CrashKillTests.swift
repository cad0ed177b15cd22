#if canImport(Glibc)
import Glibc
#endif
import CrashWorkload
import Foundation
import Resumable
import Testing

/// SIGKILL a real writer process at random instants, again and again, and
/// check after every kill that the run is whole (see `CrashInvariants`).
///
/// `RESUMABLE_CRASH_KILLS` sets the number of kills (default 200; thousands
/// for a long soak). `RESUMABLE_CRASH_SEED` replays a sequence of delays.
@Suite("Crash: SIGKILL a writer at random instants")
struct CrashKillTests {
    static var kills: Int {
        ProcessInfo.processInfo.environment["RESUMABLE_CRASH_KILLS"].flatMap(Int.init) ?? 200
    }

    @Test("every kill leaves every committed checkpoint whole and latest loadable")
    func killRepeatedly() throws {
        try killRepeatedly(mode: [], kills: Self.kills)
    }

    @Test("the same with asynchronous saves from a tensor arena, overwritten while each save is in flight")
    func killAsynchronousArenaSaves() throws {
        try killRepeatedly(mode: ["--async-arena"], kills: max(1, Self.kills / 4))
    }

    /// Kills a writer started with `mode` `kills` times, checking the run after each kill.
    private func killRepeatedly(mode: [String], kills: Int) throws {
        let run = TestSupport.temporaryDirectory("crash-kill") + "/run"
        let log = FilePath.parent(of: run) + "/writer.stderr"
        let seed = ProcessInfo.processInfo.environment["RESUMABLE_CRASH_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 0...UInt64.max)
        var random = SplitMix64(seed: seed)
        var reported: Set<Int64> = []
        var landedInCommit = 0
        var landedInDelete = 0
        var tookOverInProcess = 0
        var iteration = 0
        for kill in 1...kills {
            iteration = kill
            let writer = try TestProcess.crashWriter(run: run, arguments: mode, stderrPath: log)
            // Mostly after the open, spanning several commits and prunes; sometimes during the open itself.
            if random.next() % 10 == 0 {
                usleep(UInt32(random.next() % 40_000))
            } else {
                let opened = writer.waitForLine(startingWith: "open ")
                #expect(opened, "kill \(kill): the writer did not open the run: \(writer.stderr)")
                usleep(UInt32(random.next() % 150_000))
            }
            writer.signal(SIGKILL)
            let ended = writer.wait()
            let (status, signaled) = (ended.status, ended.signaled)
            guard signaled && status == SIGKILL else {
                Issue.record("kill \(kill) (seed \(seed)): the writer ended by itself with \(status): \(writer.stderr)")
                break
            }
            for line in writer.lines where line.hasPrefix("open ") {
                #expect(line.hasSuffix("staging=0 trash=0"), "kill \(kill): the open did not clean up: \(line)")
            }
            reported.formUnion(writer.committedSteps)
            let (seen, failures) = CrashInvariants.check(run: run, reported: reported)
            if seen.stagingLeftovers > 0 { landedInCommit += 1 }
            if seen.trashLeftovers > 0 { landedInDelete += 1 }
            var all = failures
            // Every other kill the next writer takes the dead writer's lock itself; else this process does.
            if kill % 2 == 0 && FileSystem.exists(FilePath.join(run, "run.json")) {
                all.append(contentsOf: CrashInvariants.reopenCleans(run: run))
                tookOverInProcess += 1
            }
            if !all.isEmpty {
                let details = all.joined(separator: "\n")
                Issue.record("after kill \(kill) (seed \(seed)), steps \(seen.steps):\n\(details)")
                break
            }
        }
        // The run goes on after all that.
        let writer = try TestProcess.crashWriter(run: run, arguments: ["--steps", "4"] + mode, stderrPath: log)
        let ended = writer.wait()
        let (status, signaled) = (ended.status, ended.signaled)
        #expect(status == 0 && !signaled, "the writer failed after the kills: \(writer.stderr)")
        #expect(writer.lines.last == "done")
        reported.formUnion(writer.committedSteps)
        let (seen, failures) = CrashInvariants.check(run: run, reported: reported)
        #expect(failures.isEmpty, "\(failures)")
        #expect(seen.stagingLeftovers == 0 && seen.trashLeftovers == 0)
        #expect(writer.committedSteps.count == 4)
        let summary =
            "crash kill test\(mode.isEmpty ? "" : " " + mode.joined(separator: " ")) (seed \(seed)): \(iteration) kills, \(reported.count) steps reported committed, "
            + "latest \(seen.steps.last ?? 0); kills that left a staging dir: \(landedInCommit), "
            + "a trash dir: \(landedInDelete); lock taken over in-process \(tookOverInProcess) times\n"
        FileHandle.standardError.write(Data(summary.utf8))
        try? FileManager.default.removeItem(atPath: FilePath.parent(of: run))
    }
}

/// A small seeded generator, so a failing sequence of delays can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
