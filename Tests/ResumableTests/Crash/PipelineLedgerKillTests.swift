#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// The ledger survives SIGKILL during its own write: `resumable pipeline
/// reset` processes rewriting a large ledger are killed at random instants;
/// after each kill `stages.json` reads (never torn, never missing), the
/// records the resets do not touch are intact, and at most one temporary
/// file (the killed write's) is beside it, which the next reset removes.
@Suite("Pipelines: the ledger survives SIGKILL during its write", .serialized)
struct PipelineLedgerKillTests {
    static let stageCount = 60

    /// A pipeline of independent stages and a ledger of about 750 kB (every stage
    /// completed with 20 long error lines), so a write takes a while to land in.
    static func fixture() throws -> (PipelineFixture, StageLedger) {
        var yaml = "name: big\nrun: runs/demo\nstages:\n"
        for i in 0..<stageCount { yaml += "  - name: s\(i)\n    command: \"true\"\n" }
        let f = try PipelineFixture(yaml: yaml)
        var ledger = StageLedger(createdAt: "2026-11-29T00:00:00Z")
        let line = String(repeating: "x", count: 600)
        for i in 0..<stageCount {
            var record = StageRecord()
            record.markStarted(fingerprint: StageFingerprint(command: "c\(i)", env: "e", inputs: [:], upstream: [:]), at: "2026-11-29T01:00:00Z")
            record.progress = ["epoch": 8, "of": 8]
            record.markFailed(exitCode: 1, errorTail: (0..<20).map { "\(i) \($0) \(line)" }, at: "2026-11-29T02:00:00Z")
            ledger.stages["s\(i)"] = record
        }
        try FileManager.default.createDirectory(atPath: f.run, withIntermediateDirectories: true)
        try ledger.write(runDirectory: f.run)
        return (f, ledger)
    }

    static func temporaries(_ run: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("stages.json.") }
    }

    @Test("30+ SIGKILLs at random instants of `pipeline reset`: stages.json always whole, temporaries never pile up")
    func killedResets() throws {
        let (f, original) = try Self.fixture()
        defer { f.remove() }
        let last = "s\(Self.stageCount - 1)"
        let arguments = ["pipeline", "reset", f.file, last]
        // How long one reset takes here (the median of three), to spread the kills over it.
        var durations: [Double] = []
        for i in 0..<3 {
            let start = Date()
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 120)
            #expect(outcome.status == 0 && outcome.stdout == (i == 0 ? "reset: \(last)\n" : "nothing to reset\n"), "\(outcome)")
            durations.append(Date().timeIntervalSince(start))
        }
        let duration = max(0.02, durations.sorted()[1])
        var expected = original
        expected.stages[last] = StageRecord()
        expected.pipeline = PipelineOutline(try f.spec())
        #expect(try StageLedger.read(runDirectory: f.run) == expected)

        var kills = 0
        var killsInsideWrite = 0  // kills that left the killed process's own temporary: inside its write
        var attempts = 0
        while (kills < 30 || killsInsideWrite < 5) && attempts < 300 {
            attempts += 1
            let process = try TestProcess(TestSupport.resumable, arguments, stdout: .discard, stderr: .discard)
            let own = "stages.json.tmp-\(process.pid)-"
            if attempts % 2 == 0 {
                // Anywhere in the process's life.
                usleep(UInt32(Double.random(in: 0...(duration * 1.1)) * 1_000_000))
            } else {
                // Inside the write: as soon as its temporary appears, then 0–15 ms later
                // (writing, fsync, rename, fsync of the directory: the window is about that long here).
                let deadline = Date().addingTimeInterval(30)
                while process.isRunning, Date() < deadline, !((try? Self.temporaries(f.run)) ?? []).contains(where: { $0.hasPrefix(own) }) {}
                usleep(UInt32.random(in: 0...15_000))
            }
            process.signal(SIGKILL)
            let outcome = process.wait(deadline: 120)
            if outcome.signaled && outcome.status == SIGKILL {
                kills += 1
            } else {
                #expect(outcome.status == 0, "\(outcome)")
            }
            // Never torn, never missing, the untouched records intact.
            let ledger = try #require(try StageLedger.read(runDirectory: f.run), "stages.json is missing after kill \(kills)")
            #expect(ledger == expected)
            let left = try Self.temporaries(f.run)
            #expect(left.count <= 1, "\(left)")
            if outcome.signaled, left.contains(where: { $0.hasPrefix(own) }) { killsInsideWrite += 1 }
        }
        #expect(kills >= 30, "only \(kills) of \(attempts) resets were killed before they finished")
        // The next reset removes what the killed writes left.
        let final = try TestSupport.run(TestSupport.resumable, arguments, deadline: 120)
        #expect(final.status == 0, "\(final)")
        #expect(try Self.temporaries(f.run).isEmpty)
        #expect(try StageLedger.read(runDirectory: f.run) == expected)
        // Kills landed inside writes (the killed write's temporary was left), or the test would prove little.
        #expect(killsInsideWrite >= 5, "only \(killsInsideWrite) of \(kills) kills landed inside a ledger write")
        print("pipeline reset: \(kills) SIGKILLs in \(attempts) starts, \(killsInsideWrite) inside the ledger write")
    }
}
