import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct ReusableBufferTests {
    static func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? { buffer.withVeryUnsafeBytes { $0.baseAddress } }

    @Test func aBufferNobodyElseHoldsIsReusedAndAHeldOneIsLeftAlone() {
        let allocator = ByteBufferAllocator()
        var reusable = ReusableBuffer()
        var first = reusable.take(capacity: 64, from: allocator)
        first.writeString("first call")
        reusable.keep(first)
        let firstStorage = Self.address(first)
        first = ByteBuffer()  // the socket took the bytes and NIO let go
        var second = reusable.take(capacity: 64, from: allocator)
        #expect(Self.address(second) == firstStorage)
        #expect(second.readableBytes == 0)
        second.writeString("second call")
        reusable.keep(second)
        // Still queued for the socket: the next call writes elsewhere.
        var third = reusable.take(capacity: 64, from: allocator)
        #expect(Self.address(third) != Self.address(second))
        third.writeString("third")
        #expect(String(buffer: second) == "second call")
        // A buffer grown large for one call is not kept.
        var large = reusable.take(capacity: ReusableBuffer.maxKeptBytes + 1, from: allocator)
        large.writeString("large")
        reusable.keep(large)
        let largeStorage = Self.address(large)
        large = ByteBuffer()
        #expect(Self.address(reusable.take(capacity: 64, from: allocator)) != largeStorage)
    }
}

@Suite struct RequestIdTests {
    @Test func requestIdsShareTheProcessPrefixAndCountUp() throws {
        let first = RequestIds.next()
        let second = RequestIds.next()
        for id in [first, second] {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
        }
        #expect(first.prefix(16) == second.prefix(16))
        #expect(UInt64(first.prefix(16), radix: 16) == RequestIds.prefix)
        let count = try #require(UInt64(first.suffix(16), radix: 16))
        #expect(try #require(UInt64(second.suffix(16), radix: 16)) > count)
    }
}

@Suite struct UpstreamAddressTests {
    @Test func upstreamAddresses() {
        #expect(Upstream.Address(url: "http://127.0.0.1:8081") == Upstream.Address(url: "http://127.0.0.1:8081/"))
        #expect(Upstream.Address(url: "http://[::1]:80")?.host == "::1")
        #expect(Upstream.Address(url: "https://organizations.myhuaweicloud.com")?.port == 443)
        #expect(Upstream.Address(url: "https://organizations.myhuaweicloud.com/")?.hostHeader == "organizations.myhuaweicloud.com")
        #expect(Upstream.Address(url: "https://127.0.0.1:8443")?.hostHeader == "127.0.0.1:8443")
        #expect(Upstream.Address(url: "https://[::1]")?.hostHeader == "[::1]")
        #expect(Upstream.Address(url: "http://127.0.0.1:8081")?.tls == false)
        for bad in ["http://a", "http://a:0", "http://:80", "http://a:80/path", "ftp://a:1", "https://", "https://a:x", "https://[::1"] {
            #expect(Upstream.Address(url: bad) == nil, "\(bad)")
        }
    }
}
