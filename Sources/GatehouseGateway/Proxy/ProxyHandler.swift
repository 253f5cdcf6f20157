import Foundation
import GatehouseDirectory
import GatehousePolicy
import GatehouseSigning
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Request IDs: a random 64-bit prefix per process and a counter, unique without asking the
/// kernel for randomness on every call.
enum RequestIds {
    static let prefix = UInt64.random(in: .min ... .max)
    static let counter = Atomic<UInt64>(0)

    /// 32 lowercase hex digits: the prefix, then the counter.
    static func next() -> String {
        let number = counter.add(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { digits in
                for index in 0..<16 {
                    buffer[index] = digits[Int(prefix >> (60 - 4 * UInt64(index)) & 0xF)]
                    buffer[16 + index] = digits[Int(number >> (60 - 4 * UInt64(index)) & 0xF)]
                }
            }
            return 32
        }
    }
}

/// A write buffer reused call after call on one connection. Once the socket has taken its
/// bytes NIO lets go of it, so the next `take` clears it in place instead of allocating (two
/// allocations a buffer, every call); if NIO still holds it, clearing allocates anew, as
/// before. Buffers grown large for one call are not kept.
struct ReusableBuffer {
    private var kept: ByteBuffer?
    static let maxKeptBytes = 16 * 1024

    mutating func take(capacity: Int, from allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = kept.take() else { return allocator.buffer(capacity: capacity) }
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    /// Keeps a reference to a buffer about to be written, for the next `take`.
    mutating func keep(_ buffer: ByteBuffer) {
        if buffer.capacity <= Self.maxKeptBytes { kept = buffer }
    }
}

/// The hot path, one per client connection: reads a request, authorizes it, forwards it
/// over a pooled upstream connection on the same event loop and relays the answer as it
/// comes. Requests are read with `HTTP1.Decoder` and everything is written as bytes, with no
/// HTTP codec in the pipeline. Everything here runs on the connection's event loop.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamSink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let runtime: GatewayRuntime
    let pool: UpstreamPool
    private var context: ChannelHandlerContext?
    private var decoder: HTTP1.Decoder

    private enum State {
        case idle
        case reading
        /// Answered early (413, 408, 400, 431): the rest is dropped and the connection closed.
        case discarding
        case deciding
        case forwarding
    }

    /// How the answer in flight is delimited for the client.
    private enum Framing {
        /// As the account service sent it: `Content-Length`, or no body at all.
        case asReceived
        /// Chunked by the gateway: the account service's answer had no length (chunked, or
        /// ending at close) and the client speaks HTTP/1.1.
        case chunked
        /// Until the connection closes, for an HTTP/1.0 client.
        case untilClose
    }

    private var state = State.idle
    private var head: HTTP1.Head?
    private var body: ByteBuffer?
    private var readTimeout: Scheduled<Void>?
    private var requestId = ""
    private var received = NIODeadline.now()
    private var upstreamStart: NIODeadline?
    private var requestContext: RequestContext?
    private var sentHead = false
    private var framing = Framing.asReceived
    /// Close once the answer in flight is out.
    private var closeAfterAnswer = false
    private var channelOpen = true
    private var retried = false
    /// The socket's peer, read once per connection.
    private var peerAddress = "unknown"
    /// What this connection's last call found (see `ConnectionCache`).
    private var cache = ConnectionCache()
    /// The access key and whole second of the last use this connection noted: the directory
    /// keeps last use to the second, so a client's many calls within one second take the
    /// runtime's lock once.
    private var lastNotedUse: (accessKey: String, second: Int64)?
    private var decisionCounter = DecisionCounterCache()
    /// The forwarded request's and the answer's heads are written into these.
    private var requestBuffer = ReusableBuffer()
    private var answerHeadBuffer = ReusableBuffer()
    /// The upstream connection carrying the call in flight, for back-pressure.
    private var upstreamConnection: UpstreamConnection?
    /// Reading from the client stopped: a call is in flight and it pipelined this much more.
    private var readingPaused = false
    static let maxPipelinedBytes = 1 << 20
    /// Graceful shutdown: close once the call in flight is answered.
    private var quiescing = false
    /// When bytes last arrived or an answer last went out (see `limits.idle_timeout_ms`).
    private var lastActive = NIODeadline.now()
    /// Closes a connection that waited too long for its next request: one timer per
    /// connection that moves on to the next possible expiry, not one per request.
    private var idleTimer: Scheduled<Void>?

    // No closure holds this handler weakly, on purpose: a weak reference gives an object a
    // side table, and every retain and release of it then takes the slow path (over 1% of
    // all samples). Timers are cancelled when the channel goes inactive, which breaks their
    // cycle; the other callbacks finish within the upstream timeout, and a call whose client
    // left is still recorded.

    /// Whether the client connection is TLS (`g:SecureTransport`).
    private let isTLS: Bool
    private let role: ListenerRole
    /// The proxy asking about the call in flight, on the decision listener.
    private var front: DecisionFront?

    init(runtime: GatewayRuntime, pool: UpstreamPool, isTLS: Bool = false, role: ListenerRole = .api) {
        self.runtime = runtime
        self.pool = pool
        self.isTLS = isTLS
        self.role = role
        decoder = HTTP1.Decoder(kind: .request, maxHeadBytes: runtime.config.maxHeadBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        peerAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    func channelActive(context: ChannelHandlerContext) {
        peerAddress = context.channel.remoteAddress?.ipAddress ?? peerAddress
        lastActive = .now()
        armIdleTimer(at: lastActive + .milliseconds(Int64(runtime.config.idleTimeoutMs)))
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        channelOpen = false
        readTimeout?.cancel()
        idleTimer?.cancel()
        // Nobody takes the rest of an answer now: let it drain so the connection can be reused.
        upstreamConnection?.resumeReading()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstreamConnection?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        if case .idle = state, decoder.isIdle { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActive = .now()
        decoder.feed(unwrapInboundIn(data))
        // Requests read while an earlier call is in flight stay in the decoder until it is
        // answered, so answers keep order.
        if isBusy {
            if decoder.bufferedBytes > Self.maxPipelinedBytes && !readingPaused {
                readingPaused = true
                try? context.channel.syncOptions?.setOption(.autoRead, value: false)
            }
            return
        }
        readRequests()
    }

    /// Handles what the decoder yields until a call is in flight or more bytes are needed.
    private func readRequests() {
        while channelOpen, !isBusy {
            if case .discarding = state { return }
            let event: HTTP1.Event?
            do {
                event = try decoder.next()
            } catch {
                return refuseMalformed(error)
            }
            guard let event else { return awaitRestOfRequest() }
            handle(event)
        }
    }

    /// A request began but has not all arrived: it gets `limits.request_timeout_ms` from its
    /// first bytes. (Scheduled only now, since most requests arrive whole in one read.)
    private func awaitRestOfRequest() {
        guard readTimeout == nil, isPartlyRead, let context else { return }
        if case .idle = state { received = .now() }
        let remaining = Int64(runtime.config.requestTimeoutMs) * 1_000_000 - (NIODeadline.now() - received).nanoseconds
        readTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(remaining, 0))) { [self] in
            guard self.isPartlyRead else { return }
            if case .idle = self.state {
                self.head = nil
                self.requestId = RequestIds.next()
            }
            self.refuseEarly(.requestTimeout)
        }
    }

    private func armIdleTimer(at deadline: NIODeadline) {
        guard runtime.config.idleTimeoutMs > 0, let context else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in self.idleCheck() }
    }

    /// Closes the connection if it has waited `limits.idle_timeout_ms` with no request begun
    /// (a begun one has the request timer); else looks again when it next could have.
    private func idleCheck() {
        idleTimer = nil
        guard channelOpen, let context else { return }
        let limit = TimeAmount.milliseconds(Int64(runtime.config.idleTimeoutMs))
        let expiry = lastActive + limit
        if case .idle = state, decoder.isIdle, expiry <= .now() { return context.close(promise: nil) }
        armIdleTimer(at: expiry > .now() ? expiry : .now() + limit)
    }

    /// Part of a request is in: its head, or some bytes of it.
    private var isPartlyRead: Bool {
        switch state {
        case .reading: true
        case .idle: decoder.bufferedBytes > 0
        default: false
        }
    }

    /// A request the decoder cannot read: answered (400, or 431 for a head too large) and
    /// audited like any gateway error, then the connection closes, since where the next request
    /// would begin is unknown.
    private func refuseMalformed(_ failure: HTTP1.Failure) {
        if case .reading = state {
        } else {
            head = nil
            requestId = RequestIds.next()
            received = .now()
        }
        switch failure {
        case .headTooLarge(let limit): refuseEarly(.headTooLarge(limit: limit))
        case .malformed(let why): refuseEarly(.malformedRequest(why))
        }
    }

    /// A call is being decided or forwarded; the next request must wait.
    private var isBusy: Bool {
        switch state {
        case .deciding, .forwarding: true
        default: false
        }
    }

    /// The answer to the call in flight is out: close when shutting down, else go on with
    /// what the client pipelined meanwhile.
    private func responseDone() {
        guard let context, channelOpen else { return }
        lastActive = .now()
        if quiescing && decoder.isIdle { return context.close(promise: nil) }
        if readingPaused {
            readingPaused = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            context.read()
        }
        guard decoder.bufferedBytes > 0 else { return }
        // On a later tick, so this answer's bookkeeping finishes first.
        context.eventLoop.assumeIsolated().execute { [self] in
            self.readRequests()
            if self.quiescing, case .idle = self.state, self.decoder.isIdle { self.context?.close(promise: nil) }
        }
    }

    private func handle(_ event: HTTP1.Event) {
        guard let context else { return }
        switch event {
        case .head(let head):
            guard case .idle = state else { return }
            state = .reading
            self.head = head
            body = nil
            sentHead = false
            retried = false
            requestContext = nil
            upstreamStart = nil
            framing = .asReceived
            closeAfterAnswer = !head.keepAlive
            // A timer already running counts from the request's first bytes.
            if readTimeout == nil { received = .now() }
            requestId = Self.requestId(head)
            if let length = head.contentLength, length > runtime.config.maxBodyBytes {
                return refuseEarly(.bodyTooLarge(limit: runtime.config.maxBodyBytes))
            }
            // The whole body is wanted (it is read before deciding), so say so at once.
            if head.expectsContinue && head.minorVersion == 1 && (head.contentLength ?? 0 > 0 || head.isChunked) {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            }
        case .body(var part):
            guard case .reading = state else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > runtime.config.maxBodyBytes {
                return refuseEarly(.bodyTooLarge(limit: runtime.config.maxBodyBytes))
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard case .reading = state else { return }
            readTimeout?.cancel()
            readTimeout = nil
            state = .deciding
            authorize()
        }
    }

    // MARK: authenticate, route, caller rule, context, decide (the Authorizer)

    /// Asks the `Authorizer` for the call's decision; a decision that needs the target's tags
    /// waits for their lookup over the upstream pool (the context stage's one I/O).
    private func authorize() {
        guard let head, let context else { return }
        received = .now()
        let started = Date()
        // On the decision listener, the call asked about is read from the proxy's question.
        var question: DecisionRequest?
        if case .decisions(let prefix) = role {
            switch DecisionRequest.read(head, body: body, envoyPrefix: prefix) {
            case .success(let read): question = read
            case .failure(let error):
                front = head.target.hasPrefix(prefix + "/") ? .extAuthz : .authRequest
                return answer(refusedEarly(error, started: started))
            }
        }
        front = question?.front
        let policies: PolicySnapshot
        let directory: DirectoryView
        switch runtime.current() {
        case .success(let current): (policies, directory) = current
        case .failure(let refusal): return answer(refusedEarly(refusal, started: started, method: question?.method, path: question?.target))
        }
        // List fields are read across all their lines (RFC 9110 §5.3): a second
        // X-Forwarded-For line is a later hop, not a line to ignore.
        var attributes = RequestAttributes(
            method: question?.method ?? head.method, target: question?.target ?? head.target, token: Self.token(head),
            userAgent: head.first(.userAgent), forwardedFor: head.elements(.xForwardedFor)?.joined(separator: ", "),
            forwardedProto: head.elements(.xForwardedProto)?.joined(separator: ", "), peer: peerAddress,
            body: question?.body ?? body.map { Array($0.readableBytesView) } ?? [], now: started)
        if let question {
            attributes.bodyWithheld = question.bodyWithheld
            attributes.peerIsAskingProxy = true
        } else {
            attributes.isTLS = isTLS
        }
        attributes.referer = head.first(.referer)
        if head.contains(.cookie) { attributes.cookies = Self.consoleCookies(head) }
        Self.readCredentials(head, into: &attributes)
        let authorization = runtime.authorizer.authorize(
            attributes, requestId: requestId, policies: policies, directory: directory, remembering: &cache,
            knownTags: { [runtime] account in
                let tags = runtime.tags.lookup(account)
                if tags != nil { runtime.metrics.tagHits.increment() }
                return tags
            }, shadow: runtime.shadowPolicies())
        switch authorization {
        case .decided(let requestContext):
            enforce(requestContext)
        case .needsTags(let account, let pending):
            // Consumed by the lookup's answer, on a later tick of this loop.
            lookUpTags(of: account, on: context.eventLoop) { [self] lookup in self.enforce(pending.finish(lookup)) }
        }
    }

    /// Context: the account's tags from the account service (`GET` `tags.path`, over the
    /// upstream pool), kept in the tag cache unless a tag change raced the lookup; `done`
    /// runs on a later tick of `loop`, so the lookup's connection finishes its own
    /// bookkeeping first.
    private func lookUpTags(
        of account: String, on loop: EventLoop, _ done: @escaping (Result<ResourceTags, TagLookupFailure>) -> Void
    ) {
        runtime.metrics.tagMisses.increment()
        let generation = runtime.tags.generation(account)
        let path = runtime.config.tagsPath(for: account)
        pool.acquire { [self] result in
            let lookup = TagLookup(path: path) { [self] fetched in
                let tags = fetched.map(ResourceTags.init)
                switch tags {
                case .success(let found): self.runtime.tags.store(found, for: account, fetchedAt: generation)
                case .failure: self.runtime.metrics.tagFailures.increment()
                }
                loop.assumeIsolated().execute { done(tags) }
            }
            switch result {
            case .success(let connection):
                connection.send(
                    TagLookup.request(
                        path: path, requestId: self.requestId, host: self.runtime.upstream.hostHeader, signer: self.runtime.upstreamSigner),
                    method: "GET", to: lookup,
                    timeout: .milliseconds(Int64(self.runtime.config.upstreamTimeoutMs)))
            case .failure(let failure):
                lookup.upstreamFailed(failure)
            }
        }
    }

    /// Enforces the decision: an allowed call is forwarded (or answered by its built-in
    /// endpoint) once the audit log can record it; anything else is answered as refused.
    private func enforce(_ requestContext: RequestContext) {
        requestContext.record.authorizeMicros = micros(since: received)
        requestContext.record.via = front?.rawValue
        if let accessKey = requestContext.session?.accessKey {
            let second = Int64(requestContext.record.time.timeIntervalSince1970.rounded(.down))
            if lastNotedUse.map({ $0.second != second || $0.accessKey != accessKey }) ?? true {
                runtime.noteAccessKeyUse(accessKey, at: requestContext.record.time)
                lastNotedUse = (accessKey, second)
            }
        }
        if runtime.shadowMode, let refusal = requestContext.gatewayError, refusal.isWouldBeDenial {
            requestContext.forwardDespiteRefusal()
            runtime.logger.warning(
                "mode shadow: forwarding a call the gateway refuses",
                metadata: [
                    "request_id": "\(requestId)", "reason": "\(refusal.reason)", "user": "\(requestContext.record.user ?? "-")",
                    "action": "\(requestContext.record.action ?? "-")",
                ])
        }
        if requestContext.gatewayError == nil && runtime.config.auditRequired && !runtime.audit.isHealthy {
            requestContext.refuse(.auditUnavailable)
        }
        guard requestContext.gatewayError == nil, channelOpen else { return answer(requestContext) }
        if front != nil {
            // The service behind the proxy does not have Gatehouse's own APIs.
            if requestContext.handler != nil {
                return answer(requestContext.refuse(.answeredInline(action: requestContext.record.action ?? requestContext.record.path)))
            }
            return answerAllowed(requestContext)
        }
        self.requestContext = requestContext
        state = .forwarding
        if let handler = requestContext.handler { return answerLocally(handler) }
        forward()
    }

    /// Runs a local API (blocking directory work) on NIO's thread pool, then answers here.
    private func answerLocally(_ handler: BuiltInEndpoint) {
        guard let context, let requestContext else { return }
        guard let (_, directory) = runtime.snapshot() else { return answer(requestContext.refuse(.notReady)) }
        let local = runtime.local
        let runtime = self.runtime
        var call = EndpointRequest(
            handler: handler, session: requestContext.session, organization: directory.organization, parameters: requestContext.parameters,
            query: requestContext.target?.rawQuery, body: body.map { Array($0.readableBytesView) } ?? [], now: requestContext.record.time)
        if handler.isConsole, let head {
            call.users = directory.seed.users
            call.cookies = Self.consoleCookies(head)
            call.contentType = head.first(.contentType)
            call.fetchSite = head.first(.secFetchSite)
            call.isTLS = requestContext.secureTransport
        }
        // Captured as a value: the pool's thread must not share the variable with this one.
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { [call] in
            let answer = local.handle(call)
            // The gateway's own writes do not move SQLite's data_version for its connection;
            // re-read here, off the event loop (the store blocks).
            if case .success(let done) = answer, !done.changes.isEmpty { runtime.refreshDirectory(force: true) }
            return answer
        }.assumeIsolated().whenComplete { [self] result in
            guard let requestContext = self.requestContext else { return }
            switch result {
            case .success(.success(let answer)):
                if let refusal = answer.refusal { requestContext.refuse(refusal) }
                requestContext.answered(by: answer)
                self.audit(requestContext)
                self.respond(status: answer.status, contentType: answer.contentType, body: answer.body, fields: answer.fields)
            case .success(.failure(let gatewayError)):
                self.answer(requestContext.refuse(gatewayError))
            case .failure(let error):
                self.answer(requestContext.refuse(.localFailure("\(error)")))
            }
        }
    }

    // MARK: forwarding

    /// Writes the request for the account service as bytes: the request line and fields as
    /// received, less every credential (`Known.isCredential`) and the hop-by-hop fields,
    /// plus `X-Request-Id`, the principal, `X-Forwarded-For` (every hop received, then the
    /// peer) and the body's length.
    private func forward() {
        // Read in place: copying the request context or session would retain each of their strings.
        guard let context, let head, requestContext?.session != nil else { return }
        let length = body?.readableBytes ?? 0
        let urn = requestContext?.session?.principal.urn
        let forwardedFor = head.allFields(.xForwardedFor)
        // Re-signed with the management account's AK/SK: the upstream's Host and the
        // gateway's own date replace the client's, and the signature covers content-type,
        // host, the principal, the request ID, the date, the path and query as forwarded, and
        // the body.
        let signature = runtime.upstreamSigner.map { signer in
            var fields: [(name: String, value: String)] = [("host", runtime.upstream.hostHeader), ("x-request-id", requestId)]
            if let contentType = head.first(.contentType) { fields.append(("content-type", contentType)) }
            if let urn { fields.append(("x-gatehouse-principal", urn)) }
            return signer.sign(
                method: head.method, target: head.target, fields: fields, body: body.map { Array($0.readableBytesView) } ?? [], now: Date())
        }
        let hasHost = head.contains(.host) && signature == nil
        // What is copied from the request is no longer than it was; the rest is added here.
        var maxHead = head.bytes.readableBytes + ByteWriter.headerBytes("X-Request-Id", requestId) + 96
        maxHead += ByteWriter.headerBytes("X-Forwarded-For", peerAddress)
        for field in forwardedFor { maxHead += Int(field.valueEnd - field.valueStart) + 2 }
        if !hasHost { maxHead += ByteWriter.headerBytes("Host", runtime.upstream.hostHeader) }
        if let urn { maxHead += ByteWriter.headerBytes("X-Gatehouse-Principal", urn) }
        for (name, value) in signature ?? [] { maxHead += ByteWriter.headerBytes(name, value) }
        var request = requestBuffer.take(capacity: maxHead + length, from: context.channel.allocator)
        request.write(atMost: maxHead) { out in
            out.string(head.method)
            out.raw(" ")
            out.string(head.target)
            out.raw(" HTTP/1.1\r\n")
            for field in head.fields where !field.known.isCredential {
                switch field.known {
                // The gateway's own, or rewritten below. Expect was answered here: the body is sent whole.
                case .xRequestId, .xGatehousePrincipal, .contentLength, .xForwardedFor, .expect: continue
                // Signing: the upstream's Host and the gateway's date and signature instead.
                case .host, .xSdkDate, .xSdkContentSha256: if signature == nil && head.isEndToEnd(field) { out.field(field, of: head) }
                default: if head.isEndToEnd(field) { out.field(field, of: head) }
                }
            }
            out.header("X-Request-Id", requestId)
            // HTTP/1.1 requires Host; an HTTP/1.0 caller may not have sent one.
            if !hasHost { out.header("Host", runtime.upstream.hostHeader) }
            if let urn { out.header("X-Gatehouse-Principal", urn) }
            for (name, value) in signature ?? [] { out.header(name, value) }
            out.raw("X-Forwarded-For: ")
            for field in forwardedFor where field.valueEnd > field.valueStart {
                out.value(of: field, in: head)
                out.raw(", ")
            }
            out.string(peerAddress)
            out.raw("\r\n")
            switch head.method {
            case "POST", "PUT", "PATCH": out.contentLength(length)
            default: if length > 0 { out.contentLength(length) }
            }
            out.raw("\r\n")
        }
        if var body { request.writeBuffer(&body) }
        requestBuffer.keep(request)
        upstreamStart = .now()
        if !retried, let connection = pool.idleConnection() { return send(request, method: head.method, over: connection) }
        let method = head.method
        pool.acquire(fresh: retried) { [self] result in
            switch result {
            case .success(let connection): self.send(request, method: method, over: connection)
            case .failure(let failure): self.upstreamFailed(failure)
            }
        }
    }

    private func send(_ request: ByteBuffer, method: String, over connection: UpstreamConnection) {
        upstreamConnection = connection
        connection.send(request, method: method, to: self, timeout: .milliseconds(Int64(runtime.config.upstreamTimeoutMs)))
    }

    /// Writes the answer's head for the client: status line and end-to-end fields as the
    /// account service sent them, `X-Request-Id` when it sent none, and the framing.
    func upstreamHead(_ response: HTTP1.Head) {
        guard let context, let head else { return }
        sentHead = true
        requestContext?.record.status = response.status
        let bodyless = head.method == "HEAD" || response.status == 204 || response.status == 304
        if !bodyless && response.contentLength == nil {
            framing = head.minorVersion >= 1 ? .chunked : .untilClose
            if case .untilClose = framing { closeAfterAnswer = true }
        }
        guard channelOpen else { return }
        // The status line and fields copied are no longer than received (one byte more for
        // a status line without its reason's space); the rest is added here.
        let maxHead = response.bytes.readableBytes + ByteWriter.headerBytes("X-Request-Id", requestId) + 96
        var out = answerHeadBuffer.take(capacity: maxHead, from: context.channel.allocator)
        out.write(atMost: maxHead) { out in
            out.raw("HTTP/1.1 ")
            out.decimal(response.status)
            out.raw(" ")
            response.bytes.withUnsafeReadableBytes { raw in
                out.bytes(UnsafeRawBufferPointer(rebasing: raw[response.reasonStart..<response.reasonEnd]))
            }
            out.raw("\r\n")
            var hasRequestId = false
            for field in response.fields where response.isEndToEnd(field) {
                if field.known == .xRequestId { hasRequestId = true }
                out.field(field, of: response)
            }
            if !hasRequestId { out.header("X-Request-Id", requestId) }
            if case .chunked = framing { out.header("Transfer-Encoding", "chunked") }
            connectionHeader(into: &out)
            out.raw("\r\n")
        }
        answerHeadBuffer.keep(out)
        context.write(wrapOutboundOut(out), promise: nil)
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard let context, channelOpen, buffer.readableBytes > 0 else { return }
        if case .chunked = framing {
            var size = context.channel.allocator.buffer(capacity: 20)
            size.writeString(String(buffer.readableBytes, radix: 16))
            size.writeStaticString("\r\n")
            context.write(wrapOutboundOut(size), promise: nil)
            context.write(wrapOutboundOut(buffer), promise: nil)
            context.write(wrapOutboundOut(ByteBuffer(staticString: "\r\n")), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
        if buffer.readableBytes >= 16 * 1024 || !context.channel.isWritable { context.flush() }
        // More is queued for the client than its socket takes: stop reading the upstream
        // until it drains (channelWritabilityChanged resumes).
        if !context.channel.isWritable { upstreamConnection?.pauseReading() }
    }

    func upstreamEnd() {
        upstreamConnection = nil
        guard let context, let requestContext = requestContext.take() else { return }
        requestContext.record.upstreamMicros = upstreamStart.map(micros(since:))
        if let account = requestContext.changesTagsOf, (200..<300).contains(requestContext.record.status) { runtime.tags.invalidate(account) }
        audit(requestContext)
        guard channelOpen else { return }
        if case .chunked = framing { context.write(wrapOutboundOut(ByteBuffer(staticString: "0\r\n\r\n")), promise: nil) }
        endAnswer(context)
    }

    func upstreamFailed(_ failure: Upstream.Failure) {
        upstreamConnection = nil
        guard let requestContext else { return }
        requestContext.record.upstreamMicros = upstreamStart.map(micros(since:))
        switch failure {
        case .closed(receivedHead: false) where !retried && (head?.method == "GET" || head?.method == "HEAD"):
            // Most likely the service closed an idle keep-alive connection as it was reused;
            // a safe method is tried once more on a new connection.
            retried = true
            return forward()
        case .closed(receivedHead: true), .timeout(receivedHead: true), .malformed(_, receivedHead: true):
            // Part of the answer is out: the only honest signal left is closing the connection.
            runtime.metrics.upstreamError("broken_answer")
            requestContext.markAnswerBroken()
            audit(requestContext)
            context?.close(promise: nil)
        case .timeout(receivedHead: false):
            runtime.metrics.upstreamError("timeout")
            answer(requestContext.refuse(.upstreamTimeout))
        case .closed(receivedHead: false):
            runtime.metrics.upstreamError("closed")
            answer(requestContext.refuse(.upstreamUnavailable("connection closed before an answer")))
        case .malformed(let why, receivedHead: false):
            runtime.metrics.upstreamError("malformed")
            answer(requestContext.refuse(.upstreamUnavailable("an answer that is not valid HTTP/1.1: \(why)")))
        case .connect(let detail):
            runtime.metrics.upstreamError("connect")
            answer(requestContext.refuse(.upstreamUnavailable(detail)))
        }
    }

    // MARK: answering and auditing

    /// A call refused before the authorizer saw it (the decision listener's question, no
    /// policy set or directory): the call's own method and path when known.
    private func refusedEarly(_ error: GatewayError, started: Date, method: String? = nil, path: String? = nil) -> RequestContext {
        let requestContext = RequestContext(
            requestId: requestId, method: method ?? head?.method ?? "-", path: path ?? head?.target ?? "-", sourceIp: peerAddress,
            policyRevision: runtime.snapshot()?.0.revision ?? "", receivedAt: started)
        requestContext.record.via = front?.rawValue
        return requestContext.refuse(error)
    }

    /// The decision listener's allow: 200 with no body, and who the caller is in
    /// `X-Gatehouse-*` fields for the proxy to pass upstream (nginx `auth_request_set`, Envoy
    /// `allowed_upstream_headers`).
    private func answerAllowed(_ requestContext: RequestContext) {
        requestContext.record.status = 200
        audit(requestContext)
        let record = requestContext.record
        var fields: [(StaticString, String)] = [("X-Gatehouse-Request-Id", requestId)]
        if let principal = record.principal { fields.append(("X-Gatehouse-Principal", principal)) }
        if let user = record.user { fields.append(("X-Gatehouse-User", user)) }
        if let credential = record.credential { fields.append(("X-Gatehouse-Credential", credential)) }
        if let action = record.action { fields.append(("X-Gatehouse-Action", action)) }
        respond(status: 200, contentType: nil, body: "", fields: fields)
    }

    /// Answers a gateway error in the account service's error style (a console page's as a
    /// page: `ConsoleEndpoints.refusal`), then records it.
    private func answer(_ requestContext: RequestContext) {
        guard let gatewayError = requestContext.gatewayError else { return audit(requestContext) }
        guard requestContext.isConsole, front == nil else {
            audit(requestContext)
            return respond(gatewayError)
        }
        let page = ConsoleEndpoints.refusal(
            gatewayError, requestId: requestId, session: requestContext.session, cookies: head.map(Self.consoleCookies) ?? ConsoleCookies(),
            isTLS: requestContext.secureTransport, page: requestContext.handler)
        // The audit line gives the status the browser got (a 303 to sign-in for a 401).
        requestContext.record.status = page.status
        audit(requestContext)
        respond(status: page.status, contentType: page.contentType, body: page.body, fields: page.fields)
    }

    /// Records the call (audit line, metrics) and makes the connection ready for the next one.
    private func audit(_ requestContext: RequestContext) {
        requestContext.record.totalMicros = micros(since: received)
        if let loop = context?.eventLoop {
            runtime.audit.write(&requestContext.record, flushingOn: loop)
        } else {
            runtime.audit.write(requestContext.record)
        }
        if !runtime.audit.isHealthy { runtime.metrics.auditFailures.increment() }
        if let shadow = requestContext.record.shadowDecision {
            runtime.metrics.shadowDecided(enforced: requestContext.record.decision, shadow: shadow)
        }
        runtime.metrics.decided(
            decision: requestContext.record.decision, reason: requestContext.record.reason, totalMicros: requestContext.record.totalMicros,
            cache: &decisionCounter)
        state = .idle
        self.requestContext = nil
    }

    private func respond(_ gatewayError: GatewayError) {
        let body = gatewayError.responseBody(requestId: requestId)
        guard let front else { return respond(status: gatewayError.status, contentType: "application/json", body: body) }
        // nginx's auth_request takes 401 and 403 as denials and anything else as its own
        // failure (500), and Envoy's ext_authz any 5xx as its own (403, no body): the
        // status meant and the whole error go in fields the proxy's configuration can
        // answer with (samples/nginx-auth-request.conf does). Envoy passes 4xx on as they are.
        let status =
            switch front {
            case .authRequest: gatewayError.status == 401 ? 401 : 403
            case .extAuthz: gatewayError.status >= 500 ? 403 : gatewayError.status
            }
        respond(
            status: status, contentType: "application/json", body: body,
            fields: [
                ("X-Gatehouse-Request-Id", requestId), ("X-Gatehouse-Status", String(gatewayError.status)), ("X-Gatehouse-Error", body),
            ])
    }

    /// Answers with a body the gateway wrote itself, and `fields` (values of field-value
    /// bytes: the gateway's own).
    private func respond(status code: Int, contentType: String?, body: String, fields: [(StaticString, String)] = []) {
        guard let context, channelOpen else { return }
        let reason = HTTPResponseStatus(statusCode: code).reasonPhrase
        var maxHead = 160 + reason.utf8.count + (contentType?.utf8.count ?? 0) + requestId.utf8.count
        for (name, value) in fields { maxHead += ByteWriter.headerBytes(name, value) }
        var out = context.channel.allocator.buffer(capacity: maxHead + body.utf8.count)
        out.write(atMost: maxHead) { out in
            out.raw("HTTP/1.1 ")
            out.decimal(code)
            out.raw(" ")
            out.string(reason)
            out.raw("\r\n")
            if let contentType { out.header("Content-Type", contentType) }
            out.contentLength(body.utf8.count)
            out.header("X-Request-Id", requestId)
            for (name, value) in fields { out.header(name, value) }
            connectionHeader(into: &out)
            out.raw("\r\n")
        }
        out.writeString(body)
        context.write(wrapOutboundOut(out), promise: nil)
        endAnswer(context)
    }

    /// `Connection: close` when the connection ends after this answer; `keep-alive` for an
    /// HTTP/1.0 client that asked to keep it, which would otherwise assume it closes.
    /// (At most 24 bytes.)
    private func connectionHeader(into out: inout ByteWriter) {
        if closeAfterAnswer {
            out.raw("Connection: close\r\n")
        } else if head?.minorVersion == 0 {
            out.raw("Connection: keep-alive\r\n")
        }
    }

    /// Sends what is queued, then closes or goes on with the next request.
    private func endAnswer(_ context: ChannelHandlerContext) {
        guard closeAfterAnswer else {
            context.flush()
            return responseDone()
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// Answers before the request was read whole (413, 408, and 400 or 431 for one that
    /// cannot be read): the rest is not worth reading. Without a parsed head, method and path
    /// read `-`.
    private func refuseEarly(_ gatewayError: GatewayError) {
        readTimeout?.cancel()
        readTimeout = nil
        let requestContext = RequestContext(
            requestId: requestId, method: head?.method ?? "-", path: head?.target ?? "-", sourceIp: peerAddress,
            policyRevision: runtime.snapshot()?.0.revision ?? "", receivedAt: Date()
        ).refuse(gatewayError)
        audit(requestContext)
        state = .discarding
        closeAfterAnswer = true
        respond(gatewayError)
    }

    // MARK: helpers

    private func micros(since start: NIODeadline) -> Int { Int((NIODeadline.now() - start).nanoseconds / 1000) }

    /// The call's credential: a token, or an AK/SK signature (an `Authorization` that is not
    /// `Bearer`) with its `X-Security-Token` and the request as signed (`attributes`' method
    /// and target: on the decision listener, the call's, not the question's). Two credentials
    /// (`X-Auth-Token` beside `Authorization`) and a security token without a signature are
    /// marked, to be refused before either is looked at.
    static func readCredentials(_ head: HTTP1.Head, into attributes: inout RequestAttributes) {
        attributes.conflictingCredentials = head.contains(.xAuthToken) && head.contains(.authorization)
        let securityToken = head.first(.xSecurityToken)
        if attributes.token == nil, head.contains(.authorization) {
            attributes.signed = SignedCredential(
                securityToken: securityToken, head: head, method: attributes.method, target: attributes.target, body: attributes.body)
        } else if securityToken != nil {
            attributes.securityTokenWithoutSignature = true
        }
    }

    /// The console's cookies, from every `Cookie` line.
    static func consoleCookies(_ head: HTTP1.Head) -> ConsoleCookies { ConsoleCookies(fields: head.allFields(.cookie).map(head.value)) }

    /// The gateway's token: `X-Auth-Token`, else `Authorization: Bearer`. (A request with
    /// both is refused before either is looked at: `RequestAttributes.conflictingCredentials`.)
    static func token(_ head: HTTP1.Head) -> String? {
        if let token = head.first(.xAuthToken) { return token }
        // The scheme compared without case, and without lowercasing the whole value (an AK/SK
        // Authorization is some 200 bytes, on every signed call).
        let bearer: StaticString = "bearer "
        guard let field = head.firstField(.authorization), field.valueEnd - field.valueStart > 7,
            head.bytes.withUnsafeReadableBytes({ raw in
                HTTP1.equalsIgnoringCase(
                    UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueStart) + 7]),
                    UnsafeRawBufferPointer(start: bearer.utf8Start, count: bearer.utf8CodeUnitCount))
            })
        else { return nil }
        let authorization = head.value(field)
        return String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
    }

    /// The caller's `X-Request-Id` when it is a sane identifier, else a new one.
    static func requestId(_ head: HTTP1.Head) -> String {
        if let given = head.first(.xRequestId), (1...128).contains(given.utf8.count),
            given.utf8.allSatisfy({
                $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || (0x30...0x39).contains($0)
                    || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            })
        {
            return given
        }
        return RequestIds.next()
    }
}

/// What a listener is for: the API port proxies calls; the decision listener
/// (`authz.listen`) answers a proxy in front whether to let each call through.
enum ListenerRole {
    case api
    case decisions(envoyPathPrefix: String)
}
