import Foundation
import GatehousePolicy
import Synchronization

/// Account tags read from the account service, reused for `tags.cache_ttl_ms`. A tag-changing
/// call that passes drops the account's entry; a fetch that started before the drop does not
/// put stale tags back (each account's generation must still match).
public final class TagCache: Sendable {
    struct Entry {
        var tags: ResourceTags
        var expires: ContinuousClock.Instant
    }

    let ttl: Duration
    private let state = Mutex<(entries: [String: Entry], generations: [String: UInt64])>(([:], [:]))

    public init(ttl: Duration) { self.ttl = ttl }

    /// Fresh tags of an account, or nil (fetch them).
    public func lookup(_ account: String) -> ResourceTags? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.entries[account] else { return nil }
            guard entry.expires > now else {
                state.entries[account] = nil
                return nil
            }
            return entry.tags
        }
    }

    /// The account's generation, taken before a fetch starts.
    public func generation(_ account: String) -> UInt64 { state.withLock { $0.generations[account] ?? 0 } }

    /// Keeps fetched tags unless the account changed since `generation` was taken.
    public func store(_ tags: ResourceTags, for account: String, fetchedAt generation: UInt64) {
        guard ttl > .zero else { return }
        let expires = ContinuousClock.now.advanced(by: ttl)
        state.withLock { state in
            guard (state.generations[account] ?? 0) == generation else { return }
            state.entries[account] = Entry(tags: tags, expires: expires)
        }
    }

    public func invalidate(_ account: String) {
        state.withLock { state in
            state.entries[account] = nil
            state.generations[account, default: 0] &+= 1
        }
    }
}

/// A resource's tags, with the condition context they make worked out once, when the tags
/// are fetched, rather than on every call that reads them from the cache.
///
/// Every tag is kept as listed. Tag keys that differ only in case (`protected` and
/// `Protected`, which the account service keeps apart) or repeat are spellings of one
/// condition key `g:ResourceTag/protected`, each a reading of it (`AuthorizationRequest`):
/// no choice among them can switch off a Deny.
public struct ResourceTags: Sendable, Equatable {
    public struct Tag: Sendable, Equatable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    public let tags: [Tag]
    /// Folded condition key -> the spellings that make it, in listed order.
    let context: [(key: String, spellings: [KeySpelling])]

    public init(_ tags: [Tag]) {
        self.tags = tags
        var grouped: [(key: String, spellings: [KeySpelling])] = []
        var positions: [String: Int] = [:]
        for tag in tags {
            let spelling = KeySpelling(key: "g:ResourceTag/" + tag.key, values: [.string(tag.value)])
            let key = Self.contextKey(tag.key)
            if let position = positions[key] {
                grouped[position].spellings.append(spelling)
            } else {
                positions[key] = grouped.count
                grouped.append((key, [spelling]))
            }
        }
        context = grouped
    }

    /// Tags from a key -> value map (one spelling each), in key order.
    public init(_ tags: [String: String]) {
        self.init(tags.sorted { $0.key < $1.key }.map { Tag(key: $0.key, value: $0.value) })
    }

    /// The folded condition key a tag of the resource answers: `g:resourcetag/<k>`.
    static func contextKey(_ tagKey: String) -> String { "g:resourcetag/" + ConditionKeyFolding.fold(tagKey) }

    public static func == (lhs: ResourceTags, rhs: ResourceTags) -> Bool { lhs.tags == rhs.tags }
}
