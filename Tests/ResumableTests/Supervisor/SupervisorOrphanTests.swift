import Foundation
import Resumable
import Testing

/// The job cannot outlive `resumable run` (parent-death signal and watchdog),
/// processes that escape its process group are stopped at the end of an
/// attempt, and a run whose dead supervisor left its job running is not
/// written to beside that job (issue 10, item 9).
@Suite("resumable run: orphaned jobs")
struct SupervisorOrphanTests {
    /// Whether `pid` runs (a zombie does not).
    static func alive(_ pid: Int32) -> Bool { ProcessTable.entry(pid)?.isAlive ?? false }

    /// Live processes whose environment holds `RESUMABLE_TEST_MARKER=marker`.
    static func marked(_ marker: String) -> [Int32] {
        let needle = Array("RESUMABLE_TEST_MARKER=\(marker)".utf8)
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard pid != getpid(), alive(pid), let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return data.split(separator: 0).contains { Array($0) == needle }
        }
    }

    /// Polls `condition` until it holds or `limit` seconds pass; whether it held.
    static func waitUntil(_ limit: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Bash that closes every inherited descriptor above 2 (Foundation's
    /// `Process` notices an exit when a socket it gave the child closes, so
    /// a process left holding it would make the test wait instead of fail).
    static let closeInherited =
        #"for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ] && [ "$n" -lt 255 ]; then eval "exec $n>&-"; fi; done"#

    /// Writes an executable bash script that first closes inherited descriptors.
    static func script(_ directory: String, _ name: String, _ body: String) throws -> String {
        let path = directory + "/" + name
        try SupervisorTestSupport.writeExecutable(path, "#!/bin/bash\n" + closeInherited + "\n" + body + "\n")
        return path
    }

    static func readPid(_ path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    @Test("SIGKILL of `resumable run` takes the job's whole process group with it (10 tries at random instants)")
    func jobDiesWithSupervisor() throws {
        var slowest = 0.0
        for attempt in 0..<10 {
            let dir = TestSupport.temporaryDirectory("sup-orphan-kill")
            let marker = UUID().uuidString
            defer {
                for pid in Self.marked(marker) { kill(pid, SIGKILL) }
                try? FileManager.default.removeItem(atPath: dir)
            }
            let job = try Self.script(
                dir, "job.sh", "echo $$ > \(dir)/job.pid; sleep 1000 & touch \(dir)/ready; wait")
            let supervisor = try SupervisorTestSupport.background(
                ["run", "--run-dir", dir + "/run", "--", job], directory: dir, environment: ["RESUMABLE_TEST_MARKER": marker])
            // Even tries: any instant, also before the job starts; odd tries: while it runs.
            if attempt % 2 == 0 {
                usleep(UInt32.random(in: 0...400_000))
            } else {
                #expect(SupervisorTestSupport.waitForFile(dir + "/ready"), "try \(attempt)")
                usleep(UInt32.random(in: 0...200_000))
            }
            supervisor.signal(SIGKILL)
            supervisor.wait(deadline: 120)
            let killed = Date()
            let gone = Self.waitUntil(10) { Self.marked(marker).isEmpty }
            slowest = max(slowest, Date().timeIntervalSince(killed))
            #expect(gone, "try \(attempt): still alive after the supervisor was killed: \(ProcessTable.describe(Self.marked(marker)))")
            if let pid = Self.readPid(dir + "/job.pid") { #expect(!Self.alive(pid), "try \(attempt): the job \(pid)") }
        }
        print("SupervisorOrphanTests: the slowest of 10 tries left nothing after \((slowest * 1000).rounded()) ms")
    }

    @Test("a process the job started with setsid is stopped when the attempt ends, and reported")
    func escapedGrandchildIsStopped() throws {
        let dir = TestSupport.temporaryDirectory("sup-orphan-setsid")
        var escaped: Int32?
        defer {
            if let escaped { kill(escaped, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        // The job waits until the grandchild has left its session and group, then exits 0.
        let job = try Self.script(
            dir, "job.sh",
            """
            setsid bash -c 'echo $$ > \(dir)/escaped.pid; exec sleep 1000' &
            while [ ! -s \(dir)/escaped.pid ]; do sleep 0.01; done
            exit 0
            """)
        let supervisor = try SupervisorTestSupport.background(["run", "--run-dir", dir + "/run", "--", job], directory: dir)
        let status = supervisor.wait(deadline: 60).status
        escaped = Self.readPid(dir + "/escaped.pid")
        #expect(status == 0, "\(supervisor.stderr)")
        let pid = try #require(escaped)
        #expect(Self.waitUntil(5) { !Self.alive(pid) }, "the setsid grandchild \(pid) outlived `resumable run`")
        #expect(supervisor.stderr.contains("pid \(pid) (sleep 1000)"), "\(supervisor.stderr)")
    }

    @Test("the lock file names the running job's process group while it runs")
    func lockRecordsJob() throws {
        let dir = TestSupport.temporaryDirectory("sup-orphan-lock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let job = try Self.script(
            dir, "job.sh", "echo $$ > \(dir)/job.pid; while [ ! -e \(dir)/go ]; do sleep 0.02; done")
        let supervisor = try SupervisorTestSupport.background(["run", "--run-dir", dir + "/run", "--", job], directory: dir)
        defer { supervisor.signal(SIGKILL); supervisor.wait(deadline: 120) }
        // The file exists before the shell has written the pid into it: wait for the pid.
        #expect(Self.waitUntil(60) { Self.readPid(dir + "/job.pid") != nil })
        let pid = try #require(Self.readPid(dir + "/job.pid"))
        // The supervisor records the job right after starting it.
        #expect(Self.waitUntil(30) { RunLock.recordedOwner(directory: dir + "/run")?.jobProcessGroup != nil })
        let owner = try #require(RunLock.recordedOwner(directory: dir + "/run"))
        #expect(owner.pid == supervisor.pid)
        #expect(owner.jobProcessGroup == pid)
        #expect(owner.jobStartTicks == ProcessTable.entry(pid)?.startTicks)
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        #expect(supervisor.wait(deadline: 60).status == 0, "\(supervisor.stderr)")
        #expect(RunLock.recordedOwner(directory: dir + "/run") == nil, "a supervisor that ended empties the lock file")
    }

    /// A process group nobody supervises (its own session), and a lock file
    /// saying that a supervisor which is dead ran it as the run's job.
    static func orphanedJob(run: String, dir: String) throws -> Int32 {
        let body = closeInherited + "; echo $$ > \(dir)/orphan.pid; exec sleep 1000"
        let start = try TestSupport.run("/bin/bash", ["-c", "setsid bash -c '\(body)' </dev/null >/dev/null 2>&1 &"])
        #expect(start.status == 0, "\(start)")
        // The file exists before the shell has written the pid into it: wait for the pid.
        #expect(waitUntil(60) { readPid(dir + "/orphan.pid") != nil })
        let pid = try #require(readPid(dir + "/orphan.pid"))
        #expect(waitUntil(10) { ProcessTable.commandLine(pid) == "sleep 1000" })
        let ticks = try #require(ProcessTable.entry(pid)?.startTicks)
        let dead = try TestSupport.run("/bin/sh", ["-c", "echo $$"])
        let deadPid = Int64(dead.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 999_999
        let lock: JSONValue = .object([
            "pid": .int(deadPid), "host": .string(RunLock.hostName()), "boot_id": .string(RunLock.bootID()),
            "started_at": .string("2026-01-01T00:00:00Z"), "token": .string("0123abcd"),
            "command": .string("resumable run --run-dir \(run) -- train"), "job_pgid": .int(Int64(pid)),
            "job_start_ticks": .int(Int64(ticks)),
        ])
        try (lock.serialized() + "\n").write(toFile: run + "/.lock", atomically: true, encoding: .utf8)
        return pid
    }

    @Test("`resumable run` stops the job a dead supervisor left running before it starts its own, and says so")
    func takeoverStopsOrphanedJob() throws {
        let dir = TestSupport.temporaryDirectory("sup-orphan-takeover")
        let run = dir + "/run"
        var orphan: Int32?
        defer {
            if let orphan { kill(-orphan, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        #expect(try TestSupport.resumable("run", "--run-dir", run, "--", "true").status == 0)
        let pid = try Self.orphanedJob(run: run, dir: dir)
        orphan = pid

        // A writer that is not a supervisor refuses to write beside the live job.
        let source = try CLIFixture.sourceDirectory()
        let commit = try TestSupport.resumable("commit", run, "--step", "5", source)
        #expect(commit.status == 75, "\(commit)")
        #expect(commit.stderr.contains("process group \(pid) is alive"), "\(commit)")
        #expect(Self.alive(pid))
        #expect(try CheckpointStore(directory: run).committedSteps().isEmpty)

        // `resumable run` stops it (SIGTERM), names it, then runs its own job.
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--grace", "5", "--", "true")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stderr.contains("process group \(pid), pid \(pid) (sleep 1000)"), "\(outcome)")
        #expect(Self.waitUntil(10) { !Self.alive(pid) }, "the orphaned job \(pid) is still alive")
        #expect(try SupervisorTestSupport.events(run, "start").count == 2)
    }
}
