import Glibc
import CSystemShims
import DurableFiles

/// A child process started as the leader of its own process group, so that
/// signals reach everything it starts, and bound to the supervisor's life.
///
/// Standard input, output and error are inherited. Signals the supervisor
/// handles or ignores are reset to their defaults in the child, and its signal
/// mask is empty. The child gets SIGKILL when the thread that started it
/// ends (Linux `PR_SET_PDEATHSIG`): start it from the thread that waits for
/// it, as `Supervisor` does, so it dies with the supervisor even when the
/// supervisor is killed with SIGKILL. (Its own children are `JobWatchdog`'s concern.)
public struct ChildProcess: Sendable {
    /// The child's process id, which is also its process group id.
    public let pid: Int32

    /// The process group of the child (its pid).
    public var processGroup: Int32 { pid }

    /// Starts `arguments[0]` (searched in `PATH` when it has no slash) with
    /// `arguments` and exactly `environment`.
    /// - Throws: `.usage` for an empty command; `.notFound` when the program
    ///   does not exist or cannot be executed (or no process can be created).
    public static func spawn(_ arguments: [String], environment: [String: String]) throws -> ChildProcess {
        try spawn(arguments, environment: environment, options: SpawnOptions(), watched: false).child
    }

    /// Where the child runs and where its output goes.
    struct SpawnOptions {
        /// The working directory (`nil`: this process's).
        var directory: String?
        /// A descriptor that becomes the child's standard output and error (`nil`: inherited).
        var output: Int32?
    }

    /// Starts the job as `spawn` does, with a `JobWatchdog` for its process
    /// group started while the child still waits before its exec, so no
    /// process of the job ever runs unwatched. The watchdog is `nil` when it
    /// could not be started (`errno` says why); the job runs all the same.
    static func spawnWatched(_ arguments: [String], environment: [String: String], options: SpawnOptions) throws
        -> (child: ChildProcess, watchdog: JobWatchdog?)
    {
        try spawn(arguments, environment: environment, options: options, watched: true)
    }

    private static func spawn(_ arguments: [String], environment: [String: String], options: SpawnOptions, watched: Bool) throws
        -> (child: ChildProcess, watchdog: JobWatchdog?)
    {
        guard let program = arguments.first, !program.isEmpty else {
            throw ResumableError(.usage, "no command to run was given; put it after `--`.")
        }
        let defaults: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGCHLD, SIGXCPU]
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var code: Int32 = 0
        var watchdogPID: Int32 = -1
        var watchdogFD: Int32 = -1
        let output = options.output ?? -1
        let pid = withOptionalCString(options.directory) { directory in
            watched
                ? resumable_spawn_job(program, argv, envp, defaults, Int32(defaults.count), directory, output, &code, &watchdogPID, &watchdogFD)
                : resumable_spawn_job(program, argv, envp, defaults, Int32(defaults.count), directory, output, &code, nil, nil)
        }
        guard pid > 0 else {
            let place = options.directory.map { " in \($0)" } ?? ""
            throw ResumableError(
                .notFound,
                "cannot start \(program)\(place): \(String(cString: strerror(code))). Check the command, its working directory and your PATH.",
                path: program, errno: code)
        }
        let watchdog = watchdogPID > 0 ? JobWatchdog(pid: watchdogPID, descriptor: watchdogFD) : nil
        return (ChildProcess(pid: pid), watchdog)
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }

    /// Collects the child's exit status if it has ended; `nil` while it runs.
    /// - Throws: `.io` when the child cannot be waited for (it is not ours).
    public func poll() throws -> ChildTermination? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return ChildTermination(waitStatus: status) }
            if r == 0 { return nil }
            if errno == EINTR { continue }
            throw ResumableError(.io, "cannot wait for process \(pid): \(String(cString: strerror(errno))).")
        }
    }

    /// Sends `signal` to the child's whole process group.
    /// - Returns: whether any process received it (false once the group is empty).
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        kill(-processGroup, signal) == 0
    }

    /// Whether any process of the child's group is still alive (or not yet reaped).
    public var groupIsAlive: Bool { kill(-processGroup, 0) == 0 }

    /// Reaps members of the group that became this process's children
    /// (a child subreaper adopts orphans), so a dead group can empty.
    public func reapGroupMembers() {
        var status: Int32 = 0
        while waitpid(-processGroup, &status, WNOHANG) > 0 {}
    }

    /// After the group was sent SIGKILL: reaps its members as they die, for
    /// at most `limit` seconds, so none is left behind as a zombie when the
    /// supervisor exits. (SIGKILL is delivered asynchronously; members that
    /// are not this process's descendants cannot be reaped here, hence the bound.)
    public func reapKilledGroup(limit: Double = 5) {
        var waited = 0.0
        while waited < limit {
            reapGroupMembers()
            if !groupIsAlive { return }
            usleep(10_000)
            waited += 0.01
        }
    }
}
