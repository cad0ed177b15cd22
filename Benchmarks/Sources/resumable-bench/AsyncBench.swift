/// Asynchronous save (filled in with the library's asynchronous writer).
enum AsyncBench {
    static func run(_ options: Options) throws { throw BenchFailure("not yet") }
}
