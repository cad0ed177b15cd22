import Foundation
import Resumable
import Testing
@testable import CheckpointStore

@Suite("ResumableError: cause")
struct ResumableErrorCauseTests {
    private struct Underlying: Error, CustomStringConvertible {
        var description: String { "the underlying failure" }
    }

    @Test("an error made from another keeps it as its cause; the description adds it once, the message not at all")
    func keepsCause() {
        let plain = ResumableError(.io, "writing failed.")
        #expect(plain.cause == nil)
        #expect(plain.description == "writing failed.")
        let wrapped = ResumableError(.io, "writing failed.", cause: Underlying())
        #expect(wrapped.cause is Underlying)
        #expect(wrapped.message == "writing failed.")
        #expect(wrapped.description == "writing failed. (cause: the underlying failure)")
        #expect(String(reflecting: wrapped).contains("cause: "))
        let quoted = ResumableError(.io, "writing failed: the underlying failure.", cause: Underlying())
        #expect(quoted.description == quoted.message)
    }

    @Test("a run.json that is not JSON: the parser's error is the cause")
    func parseErrorIsCause() throws {
        let directory = TestSupport.temporaryDirectory("cause")
        let path = directory + "/run.json"
        try Data("{\"format\": ".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: ResumableError.self) { try RunInfo.read(from: path) }
        #expect(error?.code == .corrupt)
        #expect(error?.cause != nil, "\(String(describing: error))")
        #expect(error?.cause is ResumableError == false)
    }
}
