import Foundation
import Resumable
import Testing

/// `sweep run` on a 12-unit sweep whose units take 0.5–1 s, its whole
/// process group SIGKILLed at random instants, then finished.
@Suite("sweep run killed at random instants", .serialized)
struct SweepCrashTests {
    static let yaml = SweepRunTests.yaml(
        reps: "[a, b, c, d]", ns: "[5, 7, 9]", command: "UNIT_SLEEP=0.{n} sh unit.sh {rep} {n} {output} {key}")

    @Test("30+ SIGKILLs of the whole group: every result present once, finished units never run again, results equal an uninterrupted run's")
    func killedAnywhere() throws {
        // The reference: one uninterrupted run.
        let reference = try SweepRunTests.Project(Self.yaml)
        defer { reference.remove() }
        let clean = try reference.sweep("run", "sweep.yaml", deadline: 120)
        #expect(clean.status == 0, "\(clean)")
        let expected = try reference.records()
        #expect(expected.count == 12 && expected.values.allSatisfy { $0.status == .done })

        var kills = 0
        var rounds = 0
        var interruptedSeen = 0
        while kills < 30 {
            rounds += 1
            let p = try SweepRunTests.Project(Self.yaml)
            defer { p.remove() }
            // Each unit's executions when its record was first seen done.
            var executionsWhenDone: [String: Int] = [:]
            while kills < 30 {
                let process = try p.start(["--grace", "1", "--backoff", "0.1,0.5"], stdout: .discard, stderr: .discard)
                #expect(getpgid(process.pid) == process.pid || !process.isRunning, "sweep run must lead its own process group")
                usleep(UInt32.random(in: 100_000...1_500_000))
                let finished = !process.isRunning
                if !finished {
                    kill(-process.pid, SIGKILL)
                    kills += 1
                }
                _ = process.wait(deadline: 30)
                let records = try p.records()
                let counts = p.executionCounts
                for (key, record) in records {
                    if record.status == .done {
                        if let seen = executionsWhenDone[key] {
                            #expect(counts[key] == seen, "unit \(key) was done and ran again")
                        } else {
                            executionsWhenDone[key] = counts[key] ?? 0
                            #expect((counts[key] ?? 0) >= 1)
                        }
                    } else if record.observedStatus == .interrupted {
                        interruptedSeen += 1
                    }
                }
                if records.count == 12 && records.values.allSatisfy({ $0.status == .done }) { break }
            }
            // Finish it, then compare with the uninterrupted run.
            let end = try p.sweep("run", "sweep.yaml", deadline: 120)
            #expect(end.status == 0, "\(end)")
            let records = try p.records()
            #expect(records.count == 12)
            let counts = p.executionCounts
            for (key, record) in records {
                #expect(record.status == .done, "\(key): \(record.status)")
                #expect(record.result == expected[key]?.result, "\(key): the result differs from the uninterrupted run")
                if let seen = executionsWhenDone[key] { #expect(counts[key] == seen, "unit \(key) ran again after it was done") }
            }
            #expect(Set(records.keys) == Set(expected.keys))
        }
        #expect(kills >= 30)
        print("sweep crash test: \(kills) kills over \(rounds) round(s), \(interruptedSeen) interrupted units seen")
    }
}
