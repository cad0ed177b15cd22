import DurableFiles
import FoundationEssentials
import Logging

extension ResultCache {
    /// The value stored for `key` decoded as `T`, computing, encoding and
    /// storing it first when there is none: ``value(for:compute:)`` for any
    /// `Codable` type.
    ///
    /// Values are stored as JSON (Foundation's `JSONEncoder`, sorted keys, so
    /// equal values are equal bytes; NaN and infinities as the strings
    /// "NaN", "Infinity", "-Infinity"). An intact entry that does not decode
    /// as `T` (the type changed but the key did not) is logged as a warning,
    /// computed again and replaced: put a version of the type in the key.
    /// - Throws: what `compute` throws; `.usage` when the value cannot be
    ///   encoded; the errors of ``value(for:compute:)``.
    public func value<T: Codable>(for key: String, as type: T.Type, compute: () throws -> T) throws -> T {
        var computed: T?
        let bytes = try value(for: key) {
            let value = try compute()
            computed = value
            return try Self.encode(value, key: key)
        }
        if let computed { return computed }
        if let decoded = try? Self.decode(T.self, from: bytes) { return decoded }
        let path = valuePath(try EntryName(key: key))
        logger.warning(
            "the cached value of \"\(EntryName.printable(key))\" does not decode as \(T.self); computing it again.",
            metadata: ["path": .string(path)])
        let value = try compute()
        try put(key, try Self.encode(value, key: key))
        return value
    }

    static func encode<T: Encodable>(_ value: T, key: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do {
            return [UInt8](try encoder.encode(value))
        } catch {
            throw ResumableError(
                .usage, "the value for \"\(EntryName.printable(key))\" cannot be encoded as JSON: \(error).", cause: error)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(T.self, from: Data(bytes))
    }
}
