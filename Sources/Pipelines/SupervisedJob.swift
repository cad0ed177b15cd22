import Dispatch
import Glibc
import DurableFiles
package import Logging
package import Supervisor
import Synchronization

/// One job run to its end under a `Supervisor`, its output teed to a log
/// file (`StageLog`), with an optional time limit: what a pipeline stage's
/// attempt and a sweep unit's attempt share.
package struct SupervisedJob: Sendable {
    /// The supervisor's configuration (run directory, command, environment, restarts…);
    /// its output descriptor is set here.
    package var configuration: SupervisorConfiguration
    /// The log file, appended to.
    package var logPath: String
    /// The first line written to the log for this attempt.
    package var header: String
    /// Where the output is echoed besides the log.
    package var echo: StageLog.Echo
    /// Seconds after which the job is stopped (SIGTERM through the supervisor, then its grace period).
    package var timeout: Double?
    /// Lines of output kept for the error tail.
    package var tailLines = StageRecord.maxErrorLines - 1

    package init(configuration: SupervisorConfiguration, logPath: String, header: String, echo: StageLog.Echo, timeout: Double? = nil) {
        self.configuration = configuration
        self.logPath = logPath
        self.header = header
        self.echo = echo
        self.timeout = timeout
    }

    /// How the job ended.
    package enum End: Sendable {
        /// It exited 0.
        case finished
        /// A stop signal (forwarded by the caller) stopped it; it can resume.
        case interrupted(signal: Int32)
        /// It ran longer than `timeout` and was stopped.
        case timedOut(seconds: Double)
        /// The supervisor gave up (`code`: its exit code), or the job could not be started (`nil`).
        case failed(code: Int32?, message: String)
    }

    /// Runs the job. `started` gets the supervisor before it starts (so the
    /// caller can forward stop signals to it); `ended` is called when it returns.
    package func run(
        logger: Logger, started: (Supervisor) -> Void = { _ in }, ended: () -> Void = {}
    ) -> (end: End, tail: [String]) {
        let log: StageLog
        do {
            log = try StageLog(path: logPath, echo: echo)
        } catch {
            return (.failed(code: nil, message: Self.describe(error)), [])
        }
        log.note(header)
        var configuration = configuration
        configuration.outputDescriptor = log.writeDescriptor
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(configuration: configuration, logger: logger)
        } catch {
            return (.failed(code: nil, message: Self.describe(error)), log.finish(lines: tailLines))
        }
        started(supervisor)
        defer { ended() }

        // The time limit: a thread that stops the job unless it ended first.
        let timedOut = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        let timer = timeout.flatMap { limit -> WorkerThread? in
            guard let thread = WorkerThread() else {
                logger.warning("Cannot start a thread for the time limit of \(limit) s; the job runs without it.")
                return nil
            }
            thread.async {
                if done.wait(timeout: .now() + .nanoseconds(Int(min(limit, 1e9) * 1e9))) == .timedOut {
                    timedOut.store(true, ordering: .releasing)
                    logger.notice("The time limit of \(limit) s is over; stopping the job.")
                    supervisor.interrupt(SIGTERM)
                }
            }
            return thread
        }
        let result: SupervisorResult
        do {
            result = try supervisor.run()
        } catch {
            done.signal()
            timer?.finish()
            return (.failed(code: nil, message: Self.describe(error)), log.finish(lines: tailLines))
        }
        done.signal()
        timer?.finish()
        let tail = log.finish(lines: tailLines)
        switch result.reason {
        case .finished: return (.finished, tail)
        case .interrupted(let signal, _):
            if timedOut.load(ordering: .acquiring), let timeout { return (.timedOut(seconds: timeout), tail) }
            return (.interrupted(signal: signal), tail)
        case .gaveUp: return (.failed(code: result.exitCode, message: result.message), tail)
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? ResumableError)?.message ?? "\(error)"
    }
}
