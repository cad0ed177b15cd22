public import DurableFiles
public import SafeTensors
import Foundation

extension Checkpoint {
    /// Opens one of the checkpoint's safetensors files (validated, memory-mapped).
    public func tensors(named name: String = "model.safetensors") throws -> SafeTensorsFile {
        try SafeTensorsFile(path: path(of: name))
    }

    /// Decodes a JSON file of the checkpoint (`state.json` by default) as `T`.
    /// - Throws: `.notFound` if the file is missing, `.corrupt` if it does not decode.
    public func decodeState<T: Decodable>(_ type: T.Type = T.self, named name: String = "state.json") throws -> T {
        let filePath = path(of: name)
        let bytes = try FileSystem.readFile(filePath, regularOnly: true)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch {
            throw ResumableError(
                .corrupt, "\(filePath) does not hold the state this program expects: \(error). Was it written by another program or version?",
                path: filePath)
        }
    }
}
