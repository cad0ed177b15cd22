import JSON

extension RunLock {
    /// The owner written in the lock file of the run in `directory`, live or
    /// not, or `nil` when there is no readable lock file. Use
    /// `currentOwner(directory:)` to learn whether that owner still holds it.
    package static func recordedOwner(directory: String) -> Owner? {
        let path = FilePath.join(directory, ".lock")
        guard let bytes = try? FileSystem.readFile(path, limit: 1 << 16), !bytes.isEmpty,
            let value = try? JSONParser().parse(bytes)
        else { return nil }
        return Owner(value)
    }
}
