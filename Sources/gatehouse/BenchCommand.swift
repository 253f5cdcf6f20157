import ArgumentParser
import Foundation
import GatehousePolicy

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the policy engine: decision latency, load+compile time, memory.",
        discussion: """
            Meant for a release build (swift build -c release). Builds synthetic policy sets \
            in memory: decision latency with 1, 100, 1,000 and 10,000 statements in the set \
            (at most 10 of them for the requested action), a one-policy set with a \
            g:ResourceTag condition, the time to parse with jansson and compile 10,000 \
            statements, and the time to lint one document of 1,000 and of 10,000 statements \
            in six shapes. Reports medians over repeated batches and the resident memory. \
            --signing measures AK/SK signature verification instead, per call and by part.

            Example:
              swift build -c release && .build/release/gatehouse bench --format json
            """
    )

    @Option(help: "Output format.")
    var format: OutputFormat = .text

    @Option(help: "Repeat counts are scaled by this factor (use 0.1 for a quick smoke run).")
    var scale: Double = 1

    @Flag(help: "Measure AK/SK signature verification (microseconds per call) instead of the engine.")
    var signing = false

    func run() throws {
        if signing {
            let results = SigningBenchmark(scale: scale).run()
            switch format {
            case .text: Output.line(results.map { "\($0.0): \(String(format: "%.2f", $0.1)) us" }.joined(separator: "\n"))
            case .json: Output.line(JSONWriter.pretty(.object(results.map { ($0.0, .string(String(format: "%.2f", $0.1))) })))
            }
            return
        }
        let results = try EngineBenchmark(scale: scale).run()
        switch format {
        case .text: Output.line(results.text)
        case .json: Output.line(JSONWriter.pretty(results.json))
        }
    }
}
