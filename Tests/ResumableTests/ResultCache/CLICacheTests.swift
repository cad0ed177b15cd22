#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// `resumable cache get|put|run|ls|rm` through the built binary: data on
/// stdout, messages on stderr, the documented exit codes.
@Suite("CLI: resumable cache")
struct CLICacheTests {
    let root = TestSupport.temporaryDirectory("cli-cache")
    var dir: String { root + "/cache" }

    func cache(_ arguments: String..., stdin: String? = nil, environment: [String: String] = [:]) throws -> TestSupport.Outcome {
        try TestSupport.run(TestSupport.resumable, ["cache"] + arguments, environment: environment, stdin: stdin, deadline: 60)
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test("put, get (stdout and FILE), ls, rm, and the exit codes of a missing key and a missing --dir")
    func roundTrip() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = root + "/value.txt"
        try "hello cache\n".write(toFile: source, atomically: true, encoding: .utf8)
        var out = try cache("put", "greeting v1", source, "--dir", dir)
        #expect(out.status == 0 && out.stdout.isEmpty, "\(out)")
        out = try cache("put", "from stdin", "-", "--dir", dir, stdin: "piped bytes")
        #expect(out.status == 0, "\(out)")

        out = try cache("get", "greeting v1", "--dir", dir)
        #expect(out.status == 0 && out.stdout == "hello cache\n" && out.stderr.isEmpty, "\(out)")
        out = try cache("get", "from stdin", "-", environment: ["RESUMABLE_CACHE_DIR": dir])
        #expect(out.status == 0 && out.stdout == "piped bytes", "\(out)")
        let target = root + "/out/copy.txt"
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        out = try cache("get", "greeting v1", target, "--dir", dir)
        #expect(out.status == 0 && out.stdout.isEmpty && read(target) == "hello cache\n", "\(out)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/out") == ["copy.txt"])

        out = try cache("ls", "--dir", dir)
        #expect(out.status == 0, "\(out)")
        let lines = out.stdout.split(separator: "\n")
        #expect(lines.count == 3 && lines[0].hasPrefix("KEY") && lines[1].hasPrefix("from stdin") && lines[2].hasPrefix("greeting v1"), "\(out)")
        out = try cache("ls", "--dir", dir, "--json")
        let json = try TestSupport.json(out.stdout)
        let entries = try #require(json["entries"]?.arrayValue)
        #expect(entries.map { $0["key"]?.stringValue } == ["from stdin", "greeting v1"])
        #expect(entries[1]["bytes"]?.intValue == 12)
        #expect(entries[1]["sha256"]?.stringValue?.count == 64)
        #expect(entries[1]["created_at"]?.stringValue?.isEmpty == false)

        out = try cache("get", "nope", "--dir", dir)
        #expect(out.status == 66 && out.stdout.isEmpty && out.stderr.contains("no value is cached for the key \"nope\""), "\(out)")
        out = try cache("rm", "greeting v1", "nope", "--dir", dir)
        #expect(out.status == 66 && out.stderr.contains("\"nope\""), "\(out)")
        out = try cache("get", "greeting v1", "--dir", dir)
        #expect(out.status == 66, "\(out)")
        out = try cache("rm", "from stdin", "--dir", dir)
        #expect(out.status == 0, "\(out)")
        out = try cache("ls", "--dir", dir, "--json")
        #expect(try TestSupport.json(out.stdout)["entries"]?.arrayValue?.isEmpty == true, "\(out)")

        out = try TestSupport.run(TestSupport.resumable, ["cache", "get", "k"], environment: ["RESUMABLE_CACHE_DIR": ""], deadline: 60)
        #expect(out.status == 64 && out.stderr.contains("--dir") && out.stderr.contains("RESUMABLE_CACHE_DIR"), "\(out)")
        out = try cache("put", "k", root + "/missing-file", "--dir", dir)
        #expect(out.status == 66, "\(out)")
        out = try cache("get", "", "--dir", dir)
        #expect(out.status == 64, "\(out)")
    }

    @Test("a damaged entry is reported with its path, removed, and get exits 66")
    func damagedEntry() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = root + "/value.txt"
        try "precious value".write(toFile: source, atomically: true, encoding: .utf8)
        #expect(try cache("put", "k", source, "--dir", dir).status == 0)
        let hash = Array("k".utf8).withUnsafeBytes { Checksum.sha256($0) }
        let value = "\(dir)/entries/\(hash.prefix(2))/\(hash).bin"
        try CacheFixture.overwrite(value, with: Array("precious valuE".utf8))
        var out = try cache("get", "k", "--dir", dir)
        #expect(out.status == 66 && out.stdout.isEmpty, "\(out)")
        #expect(out.stderr.contains("warning") && out.stderr.contains(value), "\(out)")
        #expect(!FileManager.default.fileExists(atPath: value))
        out = try cache("ls", "--dir", dir, "--json")
        #expect(try TestSupport.json(out.stdout)["entries"]?.arrayValue?.isEmpty == true, "\(out)")
    }

    @Test("cache run: runs CMD once, copies the value afterwards without running it; a failure stores nothing and passes the exit code on")
    func runOnce() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = root + "/counter"
        let output = root + "/result.txt"
        let script = "echo ran >> '\(counter)'; echo to-stdout; echo to-stderr >&2; printf 'value 1' > '\(output)'"
        var out = try cache("run", "job", "--output", output, "--dir", dir, "--", "sh", "-c", script)
        #expect(out.status == 0 && out.stdout == "to-stdout\n" && out.stderr.contains("to-stderr"), "\(out)")
        #expect(read(output) == "value 1" && read(counter) == "ran\n")
        try FileManager.default.removeItem(atPath: output)
        out = try cache("run", "job", "--output", output, "--dir", dir, "--", "sh", "-c", script)
        #expect(out.status == 0 && out.stdout.isEmpty && out.stderr.contains("not run"), "\(out)")
        #expect(read(output) == "value 1" && read(counter) == "ran\n")
        out = try cache("get", "job", "--dir", dir)
        #expect(out.stdout == "value 1")

        out = try cache("run", "failing", "--output", output, "--dir", dir, "--", "sh", "-c", "printf partial > '\(output)'; exit 3")
        #expect(out.status == 3, "\(out)")
        #expect(try cache("get", "failing", "--dir", dir).status == 66)
        out = try cache("run", "killed", "--output", output, "--dir", dir, "--", "sh", "-c", "kill -9 $$")
        #expect(out.status == 137, "\(out)")
        out = try cache("run", "silent", "--output", root + "/never-written", "--dir", dir, "--", "true")
        #expect(out.status == 66 && out.stderr.contains("did not write"), "\(out)")
        out = try cache("run", "nocmd", "--output", output, "--dir", dir, "--", root + "/no-such-program")
        #expect(out.status == 66, "\(out)")
        out = try cache("run", "k", "--output", output, "--dir", dir)
        #expect(out.status == 64, "\(out)")
        out = try cache("ls", "--dir", dir, "--json")
        #expect(try TestSupport.json(out.stdout)["entries"]?.arrayValue?.map { $0["key"]?.stringValue } == ["job"], "\(out)")
    }

    @Test("two cache run processes started at once compute the key once, and both get the value")
    func twoProcesses() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = root + "/counter"
        let script = "echo x >> '\(counter)'; sleep 1; echo v > \"$0\""
        let processes = try (1...2).map { i in
            try TestProcess(
                TestSupport.resumable,
                ["cache", "run", "shared key", "--output", root + "/F\(i)", "--dir", dir, "--", "sh", "-c", script, root + "/F\(i)"])
        }
        let outcomes = processes.map { $0.wait(deadline: 60) }
        for outcome in outcomes { #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome)") }
        #expect(read(counter) == "x\n")
        #expect(read(root + "/F1") == "v\n" && read(root + "/F2") == "v\n")
        // The one that waited says it did not run the command.
        #expect(outcomes.filter { $0.stderr.contains("not run") }.count == 1, "\(outcomes)")
    }

    @Test("cache run killed with SIGKILL mid-computation: its command dies with it, the key is free, nothing was stored, the next run computes it")
    func killedMidComputation() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = root + "/counter"
        let output = root + "/F"
        let slow = try TestProcess(
            TestSupport.resumable,
            ["cache", "run", "k", "--output", output, "--dir", dir, "--", "sh", "-c", "echo x >> '\(counter)'; printf partial > '\(output)'; exec sleep 30"])
        defer { slow.terminate() }
        let started = Date()
        while read(counter) == nil && Date().timeIntervalSince(started) < 30 { usleep(20_000) }
        #expect(read(counter) == "x\n")
        // The child's pid, to check it dies with the cache process.
        usleep(200_000)
        let sleeper = try TestSupport.run("/usr/bin/pgrep", ["-f", "-P", String(slow.pid), "sleep 30"], deadline: 10)
        let sleeperPID = Int32(sleeper.stdout.split(separator: "\n").first ?? "") ?? 0
        #expect(sleeperPID > 0, "\(sleeper)")
        slow.signal(SIGKILL)
        let outcome = slow.wait(deadline: 30)
        #expect(outcome.signaled && outcome.status == SIGKILL, "\(outcome)")
        var gone = false
        for _ in 0..<250 where !gone {
            // Gone, or a zombie waiting for whoever adopted it to reap it.
            let stat = (try? String(contentsOfFile: "/proc/\(sleeperPID)/stat", encoding: .utf8)) ?? ""
            gone = kill(sleeperPID, 0) != 0 || stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") == true
            if !gone { usleep(20_000) }
        }
        #expect(gone, "the command outlived its cache process")
        #expect(try cache("get", "k", "--dir", dir).status == 66)
        let out = try cache("run", "k", "--output", output, "--dir", dir, "--timeout", "5", "--", "sh", "-c", "echo x >> '\(counter)'; printf whole > '\(output)'")
        #expect(out.status == 0, "\(out)")
        #expect(read(counter) == "x\nx\n" && read(output) == "whole")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/tmp").isEmpty)
    }

    @Test("SIGTERM to cache run reaches its command; it exits 128+15 and stores nothing")
    func terminated() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = root + "/started"
        let process = try TestProcess(
            TestSupport.resumable,
            ["cache", "run", "k", "--output", root + "/F", "--dir", dir, "--", "sh", "-c", "touch '\(marker)'; exec sleep 30"])
        defer { process.terminate() }
        let started = Date()
        while !FileManager.default.fileExists(atPath: marker) && Date().timeIntervalSince(started) < 30 { usleep(20_000) }
        usleep(200_000)
        process.signal(SIGTERM)
        let outcome = process.wait(deadline: 30)
        #expect(outcome.status == 128 + SIGTERM && !outcome.timedOut, "\(outcome)")
        #expect(outcome.stderr.contains("nothing was cached"), "\(outcome)")
        #expect(try cache("get", "k", "--dir", dir).status == 66)
    }
}
