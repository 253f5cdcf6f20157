import Foundation
import GatehousePolicy

/// Reads lines from a file descriptor in large chunks, so a batch of a million requests
/// streams without holding the input in memory. A line longer than `maxLineBytes` is
/// reported (as `.tooLong`) and skipped rather than buffered.
struct LineReader {
    enum Line {
        case text([UInt8])
        case tooLong
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEOF = false
    private var discarding = false
    let maxLineBytes: Int
    /// Called before every read that may block, so output produced so far reaches a
    /// reader on the other end of a pipe (streaming, one answer per request).
    var beforeRead: () -> Void = {}

    init(fd: Int32, maxLineBytes: Int = 1 << 20) {
        self.fd = fd
        self.maxLineBytes = maxLineBytes
    }

    mutating func next() -> Line? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if discarding {
                    discarding = false
                    return .tooLong
                }
                return .text(line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line)
            }
            if buffer.count - start > maxLineBytes {
                discarding = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            if atEOF {
                guard start < buffer.count || discarding else { return nil }
                let line = Array(buffer[start...])
                buffer.removeAll()
                start = 0
                if discarding {
                    discarding = false
                    return .tooLong
                }
                return .text(line)
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            beforeRead()
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = Output.read(fd, into: &chunk)
            if count <= 0 {
                atEOF = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
            }
        }
    }
}

/// The requests of a JSON-lines input (a file, or `-` for standard input), one per
/// non-blank line, each with its line number: the parsed request, or why the line is bad.
/// Shared by `eval --requests` and `diff --requests`.
final class RequestLines {
    let source: String
    private let fd: Int32
    private var reader: LineReader
    private var lineNumber = 0

    init(_ path: String) throws {
        fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY)
        guard fd >= 0 else {
            throw PolicyLoadError([Diagnostic(.unreadableFile, "cannot open the file for reading", at: SourceLocation(file: path))])
        }
        source = path == "-" ? "<stdin>" : path
        reader = LineReader(fd: fd)
    }

    deinit { if fd != STDIN_FILENO { close(fd) } }

    /// Called before each read that may block (see `LineReader.beforeRead`).
    var beforeRead: () -> Void {
        get { reader.beforeRead }
        set { reader.beforeRead = newValue }
    }

    func next() -> (line: Int, request: Result<AuthorizationRequest, PolicyLoadError>)? {
        while let line = reader.next() {
            lineNumber += 1
            switch line {
            case .tooLong:
                let diagnostic = Diagnostic(
                    .badRequest, "line is longer than \(reader.maxLineBytes) bytes", at: SourceLocation(file: source, line: lineNumber))
                return (lineNumber, .failure(PolicyLoadError([diagnostic])))
            case .text(let bytes):
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                do {
                    return (lineNumber, .success(try RequestParser.parse(bytes: bytes, source: source)))
                } catch {
                    return (lineNumber, .failure(error))
                }
            }
        }
        return nil
    }
}
