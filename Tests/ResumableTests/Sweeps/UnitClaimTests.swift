import Foundation
import Resumable
import Testing

/// Per-unit claims: an exclusive, non-blocking flock on `claims/KEY`; only
/// its holder runs the unit, and the kernel drops it when the holder dies.
@Suite("Sweeps: unit claims")
struct UnitClaimTests {
    static let key = "00112233aabbccdd"

    func store() -> (String, SweepStore) {
        let dir = TestSupport.temporaryDirectory("sweep-claim")
        return (dir, SweepStore(directory: dir + "/run/sweeps/s"))
    }

    /// Another process holding the claim file's flock: `flock -F` execs the
    /// shell, which execs sleep, so one process holds it and SIGKILL drops it.
    func holder(_ path: String) throws -> TestProcess {
        let process = try TestProcess("/usr/bin/flock", ["-x", "-n", "-F", path, "/bin/sh", "-c", "echo held; exec sleep 120"])
        #expect(process.waitForLine(startingWith: "held", timeout: 30), "the holder did not take the lock: \(process.stderr)")
        return process
    }

    @Test("a held claim refuses a second one, in this process and in another; release, deinit and death free it")
    func claimInProcess() throws {
        let (dir, store) = store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var first = try store.claim(Self.key)
        #expect(first?.isHeld == true && first?.key == Self.key && first?.path == store.claimPath(Self.key))
        #expect(try store.claim(Self.key) == nil, "a second claim in the same process")
        #expect(try store.claim("ffffffffffffffff") != nil, "another unit's claim is independent")

        // Another process cannot take it while it is held.
        let refused = try TestSupport.run("/usr/bin/flock", ["-x", "-n", store.claimPath(Self.key), "true"], deadline: 30)
        #expect(refused.status == 1, "\(refused)")

        first?.release()
        #expect(first?.isHeld == false)
        first?.release()  // twice is fine
        let second = try #require(try store.claim(Self.key))
        #expect(second.isHeld)
        first = nil
        _ = second
        let refusedAgain = try TestSupport.run("/usr/bin/flock", ["-x", "-n", store.claimPath(Self.key), "true"], deadline: 30)
        #expect(refusedAgain.status == 1)
    }

    @Test("deinit releases the claim")
    func deinitReleases() throws {
        let (dir, store) = store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let claim = try #require(try store.claim(Self.key))
            #expect(claim.isHeld)
        }
        let again = try #require(try store.claim(Self.key))
        again.release()
        let free = try TestSupport.run("/usr/bin/flock", ["-x", "-n", store.claimPath(Self.key), "true"], deadline: 30)
        #expect(free.status == 0, "\(free)")
    }

    @Test("a claim held by another process is refused (nil) while it lives, and granted once it is killed")
    func claimAcrossProcesses() throws {
        let (dir, store) = store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try store.createDirectories()
        let process = try holder(store.claimPath(Self.key))
        #expect(try store.claim(Self.key) == nil)
        #expect(try store.claim(Self.key) == nil, "still held")
        process.signal(SIGKILL)
        let ended = process.wait(deadline: 30)
        #expect(ended.signaled && ended.status == SIGKILL)
        let claim = try #require(try store.claim(Self.key), "the kernel dropped the dead holder's lock")
        #expect(claim.isHeld)
    }

    @Test("the claim file is never a symbolic link: a link is refused and its target untouched")
    func claimSymlink() throws {
        let (dir, store) = store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try store.createDirectories()
        let target = dir + "/target"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: store.claimPath(Self.key), withDestinationPath: target)
        let error = try #require(SweepFixture.catching { _ = try store.claim(Self.key) })
        #expect(error.exitCode == 65 && error.message.contains("symbolic link"), "\(error.message)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
        // A dangling link is not followed to create a file either.
        let dangling = "ffffffffffffffff"
        try FileManager.default.createSymbolicLink(atPath: store.claimPath(dangling), withDestinationPath: dir + "/nothing")
        #expect(SweepFixture.catching { _ = try store.claim(dangling) }?.exitCode == 65)
        #expect(!FileManager.default.fileExists(atPath: dir + "/nothing"))
    }

    @Test("a link in place of the sweep's claims directory is refused")
    func claimsDirectoryLink() throws {
        let (dir, store) = store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: store.claimsDirectory, withDestinationPath: dir + "/other")
        let error = try #require(SweepFixture.catching { _ = try store.claim(Self.key) })
        #expect(error.exitCode == 65, "\(error.message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/other").isEmpty)
    }
}
