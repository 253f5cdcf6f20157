import Foundation
import GatehousePolicy
import GatehouseSigning
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// The account service, and the connections the gateway keeps to it.
public enum Upstream {
    /// Where the account service listens (`upstream.url`): `http://host:port` or
    /// `https://host[:port]` (443 when left out).
    public struct Address: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// `https`: every connection is TLS, certificate and host name verified.
        public var tls: Bool

        /// Reads `http://host:port` or `https://host[:port]` (an optional trailing `/`); nil
        /// for anything else. Plain HTTP names its port: there is no guessing which one.
        public init?(url: String) {
            let tls = url.hasPrefix("https://")
            guard tls || url.hasPrefix("http://") else { return nil }
            var rest = url.dropFirst(tls ? "https://".count : "http://".count)
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard !rest.contains("/") else { return nil }
            var host: String
            var port: Int
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
                guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else { return nil }
                host = String(rest[..<colon])
                port = number
            } else {
                guard tls else { return nil }
                host = String(rest)
                port = 443
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, !host.contains("[") && !host.contains("]") else { return nil }
            self.host = host
            self.port = port
            self.tls = tls
        }

        /// The `Host` header for calls the gateway makes itself (and signs): without the port
        /// when it is the scheme's default, as clients send it.
        public var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return tls && port == 443 ? name : "\(name):\(port)"
        }

        /// Whether the host is an IP address literal (no SNI; the certificate must name the address).
        var isIPAddress: Bool { IPAddress(host) != nil }
    }

    /// Why an exchange with the account service failed.
    enum Failure: Error {
        case connect(String)
        /// The connection closed before the answer was complete.
        case closed(receivedHead: Bool)
        case timeout(receivedHead: Bool)
        /// The answer is not valid HTTP/1.1 (see `HTTP1.Decoder`).
        case malformed(String, receivedHead: Bool)
    }
}

/// Receives one upstream answer, part by part, on the connection's event loop.
protocol UpstreamSink: AnyObject {
    func upstreamHead(_ head: HTTP1.Head)
    func upstreamBody(_ buffer: ByteBuffer)
    func upstreamEnd()
    func upstreamFailed(_ failure: Upstream.Failure)
}

/// One keep-alive connection to the account service: carries one exchange at a time and
/// goes back to its pool when the answer is complete and reusable. Requests go out as the
/// bytes the caller wrote; answers are read with `HTTP1.Decoder`.
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Held strongly, like this connection by the pool's idle list while idle: a weak
    /// reference would make every retain of the pool slow (see `ProxyHandler`). The cycle
    /// ends when the channel closes (`channelInactive` removes the connection).
    let pool: UpstreamPool
    private var decoder: HTTP1.Decoder
    private var context: ChannelHandlerContext?
    private var sink: UpstreamSink?
    private var receivedHead = false
    private var reusable = true
    /// When the exchange in flight times out.
    private var deadline: NIODeadline?
    /// Checks `deadline`. It is left running between exchanges and moved on when it finds a
    /// later deadline, rather than scheduled and cancelled for every exchange (a timer-heap
    /// insert and removal each).
    private var timer: Scheduled<Void>?
    /// Reading stopped because the client is not taking the answer as fast as it comes.
    private var paused = false
    /// Whether this connection carried an earlier exchange (a failure on it may be the
    /// server closing an idle connection, worth one retry for safe methods).
    private(set) var wasUsed = false

    init(pool: UpstreamPool, maxHeadBytes: Int) {
        self.pool = pool
        decoder = HTTP1.Decoder(kind: .response, maxHeadBytes: maxHeadBytes)
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Sends one request, written whole as bytes; the answer goes to `sink`. `method` tells
    /// whether an answer body follows (none after HEAD).
    func send(_ request: ByteBuffer, method: String, to sink: UpstreamSink, timeout: TimeAmount) {
        guard let context else {
            sink.upstreamFailed(.closed(receivedHead: false))
            return
        }
        self.sink = sink
        receivedHead = false
        reusable = true
        decoder.noBody = method == "HEAD"
        let deadline = NIODeadline.now() + timeout
        self.deadline = deadline
        if timer == nil { armTimer(at: deadline, on: context.eventLoop) }
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        wasUsed = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Bytes nobody asked for: the connection's framing can no longer be trusted.
        guard sink != nil else { return context.close(promise: nil) }
        decoder.feed(unwrapInboundIn(data))
        do {
            while sink != nil, let event = try decoder.next() {
                switch event {
                case .head(let head):
                    receivedHead = true
                    reusable = head.keepAlive
                    sink?.upstreamHead(head)
                case .body(let buffer):
                    sink?.upstreamBody(buffer)
                case .end:
                    finish(context: context)
                }
            }
        } catch {
            guard let sink else { return }
            self.sink = nil
            context.close(promise: nil)
            sink.upstreamFailed(.malformed(error.description, receivedHead: receivedHead))
        }
    }

    /// The answer is complete: back to the pool when the connection can carry another.
    private func finish(context: ChannelHandlerContext) {
        deadline = nil
        resumeReading()
        let sink = self.sink
        self.sink = nil
        // Bytes beyond the answer mean the two sides disagree on where it ended.
        if reusable, decoder.bufferedBytes == 0, context.channel.isActive {
            pool.release(self)
        } else {
            context.close(promise: nil)
        }
        sink?.upstreamEnd()
    }

    private func armTimer(at deadline: NIODeadline, on loop: EventLoop) {
        // Strong, and cancelled when the channel goes inactive (see `pool`).
        timer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in self.timerFired() }
    }

    private func timerFired() {
        timer = nil
        guard let deadline, let loop = context?.eventLoop else { return }
        if deadline <= .now() { return timedOut() }
        armTimer(at: deadline, on: loop)
    }

    private func timedOut() {
        deadline = nil
        guard let sink else { return }
        self.sink = nil
        context?.close(promise: nil)
        sink.upstreamFailed(.timeout(receivedHead: receivedHead))
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        pool.remove(self)
        // An answer without a length ends when the connection does.
        if sink != nil, decoder.closed() {
            reusable = false
            finish(context: context)
        }
        if let sink {
            self.sink = nil
            sink.upstreamFailed(.closed(receivedHead: receivedHead))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func close() { context?.close(promise: nil) }

    /// Back-pressure: stops reading the answer while the client's connection cannot take
    /// more, so a slow client holds the upstream's socket, not the gateway's memory.
    func pauseReading() {
        guard !paused, let channel = context?.channel else { return }
        paused = true
        try? channel.syncOptions?.setOption(.autoRead, value: false)
    }

    func resumeReading() {
        guard paused, let channel = context?.channel else { return }
        paused = false
        try? channel.syncOptions?.setOption(.autoRead, value: true)
        channel.read()
    }
}

/// Keep-alive connections to the account service for one event loop: requests and
/// answers never hop threads, and idle connections are reused.
final class UpstreamPool {
    let eventLoop: EventLoop
    let address: Upstream.Address
    let connectTimeout: TimeAmount
    let maxIdle: Int
    let maxHeadBytes: Int
    /// TLS to the account service (`https` upstreams).
    let tls: NIOSSLContext?
    private var idle: [UpstreamConnection] = []

    init(
        eventLoop: EventLoop, address: Upstream.Address, connectTimeout: TimeAmount, maxIdle: Int, maxHeadBytes: Int, tls: NIOSSLContext? = nil
    ) {
        self.eventLoop = eventLoop
        self.address = address
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.maxIdle = maxIdle
        self.maxHeadBytes = maxHeadBytes
    }

    /// An idle live connection, or a new one (`fresh` skips the idle ones).
    func acquire(fresh: Bool = false, _ done: @escaping (Result<UpstreamConnection, Upstream.Failure>) -> Void) {
        if !fresh, let connection = idleConnection() { return done(.success(connection)) }
        let pool = NIOLoopBound(self, eventLoop: eventLoop)
        let maxHeadBytes = self.maxHeadBytes
        let (tls, address) = (self.tls, self.address)
        let connect = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // SNI and the certificate's name check use the host name; an IP
                        // address is checked against the certificate's IP addresses instead.
                        let handler = try NIOSSLClientHandler(context: tls, serverHostname: address.isIPAddress ? nil : address.host)
                        try channel.pipeline.syncOperations.addHandlers([handler, TLSHandshakeWatch()])
                    }
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection(pool: pool.value, maxHeadBytes: maxHeadBytes))
                }
            }
            .connect(host: address.host, port: address.port)
        connect.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                do {
                    let connection = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                    guard tls != nil else { return done(.success(connection)) }
                    // A connection is handed out only once TLS is up, so a refused
                    // certificate is a connect failure with its reason.
                    let watch = try channel.pipeline.syncOperations.handler(type: TLSHandshakeWatch.self)
                    watch.whenDone { failure in
                        if let failure {
                            channel.close(promise: nil)
                            done(.failure(.connect("TLS: \(failure)")))
                        } else {
                            done(.success(connection))
                        }
                    }
                } catch {
                    channel.close(promise: nil)
                    done(.failure(.connect("\(error)")))
                }
            case .failure(let error):
                done(.failure(.connect("\(error)")))
            }
        }
    }

    /// A live idle connection, if there is one (the common case, without a callback).
    func idleConnection() -> UpstreamConnection? {
        eventLoop.preconditionInEventLoop()
        while let connection = idle.popLast() {
            if connection.isActive { return connection }
        }
        return nil
    }

    func release(_ connection: UpstreamConnection) {
        guard idle.count < maxIdle else { return connection.close() }
        idle.append(connection)
    }

    func remove(_ connection: UpstreamConnection) {
        idle.removeAll { $0 === connection }
    }

    func closeAll() {
        for connection in idle { connection.close() }
        idle.removeAll()
    }
}

/// Why a resource's tags could not be read. Every kind denies the call: a policy that tests
/// `g:ResourceTag/<k>` is never decided as if the resource had no tags.
public enum TagLookupFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The account service answered 404: no such resource (or none it will name).
    case notFound(path: String)
    /// Anything else: another status, a body that is not a tag list, a paged list, a broken
    /// or timed-out connection.
    case unavailable(String)

    public var description: String {
        switch self {
        case .notFound(let path): "GET \(path) answered 404"
        case .unavailable(let why): why
        }
    }
}

/// Reads a resource's tags from the account service's list-tags API. Only a 2xx answer whose
/// whole body is a tag list is a result; everything else is a `TagLookupFailure`.
final class TagLookup: UpstreamSink {
    private let path: String
    private let done: (Result<[ResourceTags.Tag], TagLookupFailure>) -> Void
    private var status = 0
    private var body: ByteBuffer?
    private var finished = false
    static let maxBytes = 1 << 20

    init(path: String, _ done: @escaping (Result<[ResourceTags.Tag], TagLookupFailure>) -> Void) {
        self.path = path
        self.done = done
    }

    /// The request line and head; `path` is built from percent-encoded parts (`tagsPath`).
    static func request(path: String, requestId: String, host: String, signer: SigningCredentials? = nil, now: Date = Date()) -> ByteBuffer {
        var request = ByteBuffer()
        request.writeStaticString("GET ")
        request.writeString(path)
        request.writeStaticString(" HTTP/1.1\r\n")
        request.writeHeader("Host", host)
        request.writeHeader("Accept", "application/json")
        request.writeHeader("X-Request-Id", requestId)
        request.writeHeader("User-Agent", "gatehouse")
        for (name, value) in signer?.sign(method: "GET", target: path, fields: [("host", host), ("x-request-id", requestId)], body: [], now: now)
            ?? []
        {
            request.writeHeader(name, value)
        }
        request.writeStaticString("\r\n")
        return request
    }

    func upstreamHead(_ head: HTTP1.Head) { status = head.status }

    func upstreamBody(_ buffer: ByteBuffer) {
        var buffer = buffer
        if (body?.readableBytes ?? 0) + buffer.readableBytes > Self.maxBytes {
            return finish(.failure(.unavailable("GET \(path): the tag list is larger than \(Self.maxBytes) bytes")))
        }
        if body == nil { body = buffer } else { body!.writeBuffer(&buffer) }
    }

    func upstreamEnd() {
        switch status {
        case 200..<300:
            finish(
                Self.tags(body.map { Array($0.readableBytesView) } ?? []).mapError {
                    .unavailable("GET \(path) answered \(status) with \($0)")
                })
        case 404: finish(.failure(.notFound(path: path)))
        default: finish(.failure(.unavailable("GET \(path) answered \(status)")))
        }
    }

    func upstreamFailed(_ failure: Upstream.Failure) {
        let why =
            switch failure {
            case .connect(let detail): "cannot connect: \(detail)"
            case .closed: "the connection closed before the answer was complete"
            case .timeout: "no answer in time"
            case .malformed(let detail, _): "an answer that is not valid HTTP/1.1: \(detail)"
            }
        finish(.failure(.unavailable("GET \(path): \(why)")))
    }

    private func finish(_ result: Result<[ResourceTags.Tag], TagLookupFailure>) {
        guard !finished else { return }
        finished = true
        done(result)
    }

    /// Why a tag-list body cannot be read.
    struct BadList: Error, CustomStringConvertible {
        var description: String
    }

    /// `{"tags": [{"key": ..., "value": ...}], "page_info": {...}}`, every tag as listed (a key
    /// may repeat or differ from another only in case; `ResourceTags` keeps them all). A
    /// value is a string, maybe empty, never null. A list with a `next_marker` is refused:
    /// tags on a page not read could be the ones a Deny tests.
    static func tags(_ bytes: [UInt8]) -> Result<[ResourceTags.Tag], BadList> {
        guard let json = try? JSONLoader.parse(bytes) else { return .failure(BadList(description: "a body that is not JSON")) }
        guard case .array(let items)? = json["tags"] else { return .failure(BadList(description: "no \"tags\" list")) }
        if case .object? = json["page_info"], let marker = json["page_info"]?["next_marker"], marker != .null {
            return .failure(BadList(description: "a tag list with more than one page"))
        }
        var tags: [ResourceTags.Tag] = []
        tags.reserveCapacity(items.count)
        for item in items {
            guard case .string(let key)? = item["key"], !key.isEmpty, case .string(let value)? = item["value"] else {
                return .failure(BadList(description: "a tag without a string key and value"))
            }
            tags.append(ResourceTags.Tag(key: key, value: value))
        }
        return .success(tags)
    }
}

/// Reports the end of a TLS handshake with the account service: done, or the error that
/// ended it (an unknown CA, a name mismatch, an old protocol).
final class TLSHandshakeWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private var result: String??
    private var waiting: ((String?) -> Void)?

    func whenDone(_ callback: @escaping (String?) -> Void) {
        if let result { callback(result) } else { waiting = callback }
    }

    private func finish(_ failure: String?) {
        guard result == nil else { return }
        result = .some(failure)
        waiting?(failure)
        waiting = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { finish(nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish("\(error)")
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish("the connection closed during the handshake")
        context.fireChannelInactive()
    }
}
