import Crypto
import Foundation
import GatehousePolicy
import Synchronization

/// One loaded, valid policy directory: every document by name, the set's revision (a hash of
/// the exact bytes parsed) and, compiled on first use, the policy set of each combination of
/// attached policies the directory uses.
public final class PolicySnapshot: Sendable {
    public let documents: [String: PolicyDocument]
    /// The first 16 hex digits of SHA-256 over every file's name and bytes: audit lines
    /// name the policy set that decided them.
    public let revision: String
    public let loadedAt: Date
    /// What the files looked like when read, to notice changes without reading them.
    let stamps: [FileStamp]
    private let compiled = Mutex<[[String]: CompiledPolicySet]>([:])

    init(documents: [PolicyDocument], revision: String, stamps: [FileStamp], loadedAt: Date = Date()) {
        self.documents = Dictionary(uniqueKeysWithValues: documents.map { ($0.name, $0) })
        self.revision = revision
        self.stamps = stamps
        self.loadedAt = loadedAt
    }

    /// Loads every policy file of a directory: all valid, or the error listing every problem.
    public static func load(directory: String, limits: PolicyLimits = PolicyLimits()) throws(PolicyLoadError) -> PolicySnapshot {
        let files = try PolicyFiles.expand([directory])
        var hash = SHA256()
        let documents = try PolicyFiles.loadSet(files, limits: limits) { file, bytes in
            hash.update(data: Array(PolicyFiles.policyName(of: file).utf8) + [0])
            hash.update(data: bytes)
            hash.update(data: [0])
        }
        let revision = hash.finalize().prefix(8).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        return PolicySnapshot(documents: documents, revision: revision, stamps: FileStamp.of(files))
    }

    /// The compiled set of the named policies, or the first name the directory attaches but
    /// the policy directory lacks (the caller denies: a missing policy might have denied).
    public func policySet(for names: [String]) -> Result<CompiledPolicySet, MissingPolicy> {
        if let set = compiled.withLock({ $0[names] }) { return .success(set) }
        var selected: [PolicyDocument] = []
        for name in names {
            guard let document = documents[name] else { return .failure(MissingPolicy(name: name)) }
            selected.append(document)
        }
        let set = CompiledPolicySet(selected)
        compiled.withLock { $0[names] = set }
        return .success(set)
    }
}

public struct MissingPolicy: Error, Sendable, Equatable {
    public var name: String
}

/// A file's identity and last change, compared to notice edits, additions and removals.
struct FileStamp: Sendable, Equatable {
    var path: String
    var modified: timespec
    var size: Int64
    var inode: UInt64

    static func == (lhs: FileStamp, rhs: FileStamp) -> Bool {
        lhs.path == rhs.path && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
            && lhs.size == rhs.size && lhs.inode == rhs.inode
    }

    static func of(_ files: [String]) -> [FileStamp] {
        files.map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return FileStamp(path: path, modified: timespec(), size: -1, inode: 0) }
            return FileStamp(path: path, modified: info.st_mtim, size: Int64(info.st_size), inode: UInt64(info.st_ino))
        }
    }

    /// The stamps of the policy files in `directory` now (nil if it cannot be listed).
    static func current(directory: String) -> [FileStamp]? {
        guard let files = try? PolicyFiles.expand([directory]) else { return nil }
        return of(files)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
