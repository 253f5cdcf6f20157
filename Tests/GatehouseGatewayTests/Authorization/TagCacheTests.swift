import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct TagCacheTests {
    @Test func aFetchThatRacedAnInvalidationIsNotKept() {
        let cache = TagCache(ttl: .seconds(60))
        let before = cache.generation("a")
        cache.invalidate("a")
        cache.store(ResourceTags(["env": "old"]), for: "a", fetchedAt: before)
        #expect(cache.lookup("a") == nil)
        cache.store(ResourceTags(["env": "new"]), for: "a", fetchedAt: cache.generation("a"))
        #expect(cache.lookup("a")?.tags == [ResourceTags.Tag(key: "env", value: "new")])
        cache.invalidate("a")
        #expect(cache.lookup("a") == nil)
    }

    @Test func aZeroTTLNeverKeeps() {
        let cache = TagCache(ttl: .zero)
        cache.store(ResourceTags(["env": "dev"]), for: "a", fetchedAt: cache.generation("a"))
        #expect(cache.lookup("a") == nil)
    }

}
