import Foundation
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
