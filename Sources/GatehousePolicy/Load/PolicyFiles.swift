import Foundation

/// Finds and reads policy files. A directory contributes every `*.json` file below it
/// (sorted by path), except `*.test.json` files, which hold policy tests, and hidden files.
/// A document is named by its file name without `.json`.
public enum PolicyFiles {
    /// Policy files: `*.json`, except the `*.test.json` files that hold policy tests.
    public static func isPolicyFile(_ name: String) -> Bool { name.hasSuffix(".json") && !name.hasSuffix(".test.json") }

    /// Expands files and directories into the files they name: a file as given, a directory
    /// as every file below it whose name `include` accepts (sorted; hidden files skipped).
    public static func expand(_ paths: [String], including include: (String) -> Bool = isPolicyFile) throws(PolicyLoadError) -> [String] {
        var files: [String] = []
        var problems: [Diagnostic] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.append(Diagnostic(.unreadableFile, "no such file or directory", at: SourceLocation(file: path)))
                continue
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            guard let walker = FileManager.default.enumerator(atPath: path) else {
                problems.append(Diagnostic(.unreadableFile, "cannot list the directory", at: SourceLocation(file: path)))
                continue
            }
            var found: [String] = []
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                if name.hasPrefix(".") {
                    walker.skipDescendants()
                    continue
                }
                if include(name) {
                    found.append(path.hasSuffix("/") ? path + relative : path + "/" + relative)
                }
            }
            files.append(contentsOf: found.sorted())
        }
        if !problems.isEmpty { throw PolicyLoadError(problems) }
        return files
    }

    /// The policy name of a file: its name without the directory and `.json`.
    public static func policyName(of path: String) -> String {
        let name = (path as NSString).lastPathComponent
        return name.hasSuffix(".json") ? String(name.dropLast(5)) : name
    }

    /// Reads a file, refusing one larger than `maxBytes` before reading it whole.
    public static func read(_ path: String, maxBytes: Int) throws(Diagnostic) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Diagnostic(.unreadableFile, "cannot open the file for reading", at: SourceLocation(file: path))
        }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: maxBytes + 1) ?? Data()
            guard data.count <= maxBytes else {
                throw Diagnostic(
                    .documentTooLarge, "file is larger than the limit of \(JSONLoader.byteCount(maxBytes))",
                    hint: "raise the limit with --max-document-bytes if this document is meant to be this large",
                    at: SourceLocation(file: path, line: 1, column: 1))
            }
            return [UInt8](data)
        } catch let diagnostic as Diagnostic {
            throw diagnostic
        } catch {
            throw Diagnostic(.unreadableFile, "cannot read the file: \(error.localizedDescription)", at: SourceLocation(file: path))
        }
    }

    /// Loads one file into a validated document; `observe` sees the exact bytes parsed (the
    /// gateway hashes them into the policy set's revision).
    public static func loadDocument(
        _ path: String, limits: PolicyLimits = PolicyLimits(), observe: (_ file: String, _ bytes: [UInt8]) -> Void = { _, _ in }
    ) throws(PolicyLoadError) -> PolicyDocument {
        let bytes: [UInt8]
        do {
            bytes = try read(path, maxBytes: limits.json.maxBytes)
        } catch {
            throw PolicyLoadError([error])
        }
        observe(path, bytes)
        return try PolicyParser.parse(bytes: bytes, name: policyName(of: path), file: path, limits: limits)
    }

    /// Two files with one policy name would make decisions ambiguous about which policy spoke.
    static func duplicateName(_ name: String, file: String, other: String) -> Diagnostic {
        Diagnostic(
            .duplicateName, "policy name \(JSONWriter.quoted(name)) is also used by \(other); policies are named by file name and must be unique",
            at: SourceLocation(file: file))
    }

    /// Loads a whole policy set: every document valid, or an error listing every problem in
    /// every file. Nothing is returned half-loaded.
    public static func loadSet(
        _ paths: [String], limits: PolicyLimits = PolicyLimits(), observe: (_ file: String, _ bytes: [UInt8]) -> Void = { _, _ in }
    ) throws(PolicyLoadError) -> [PolicyDocument] {
        let files = try expand(paths)
        var documents: [PolicyDocument] = []
        var problems: [Diagnostic] = []
        var names: [String: String] = [:]
        for file in files {
            do {
                let document = try loadDocument(file, limits: limits, observe: observe)
                if let other = names[document.name] {
                    problems.append(duplicateName(document.name, file: file, other: other))
                } else {
                    names[document.name] = file
                    documents.append(document)
                }
            } catch {
                problems.append(contentsOf: error.diagnostics)
            }
        }
        if !problems.isEmpty { throw PolicyLoadError(problems) }
        return documents
    }
}
