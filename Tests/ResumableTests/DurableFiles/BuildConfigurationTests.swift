import Resumable
import Testing

/// The test build is the one build with fault injection compiled in
/// (RESUMABLE_FAULT_INJECTION=1, set by scripts/test.sh); a user's build never is.
@Suite("Build configuration")
struct BuildConfigurationTests {
    @Test("fault injection is compiled into the test build (build with RESUMABLE_FAULT_INJECTION=1, as scripts/test.sh does)")
    func faultInjectionCompiled() {
        #expect(FaultInjection.isCompiled, "run the tests with scripts/test.sh, or export RESUMABLE_FAULT_INJECTION=1 before swift build")
    }
}
