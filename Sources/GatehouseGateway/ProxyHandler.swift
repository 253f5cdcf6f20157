import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Request IDs: a random 64-bit prefix per process and a counter, unique without asking the
/// kernel for randomness on every call.
enum RequestIds {
    static let prefix = String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(to: 16)
    static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        prefix + String(counter.add(1, ordering: .relaxed).newValue, radix: 16).leftPadded(to: 16)
    }
}

/// The hot path, one per client connection: reads a request, authorizes it, forwards it
/// over a pooled upstream connection on the same event loop and relays the answer part by
/// part. Everything here runs on the connection's event loop.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let core: GatewayCore
    let pool: UpstreamPool
    private var context: ChannelHandlerContext?

    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade",
    ]

    private enum State {
        case idle
        case reading
        /// Answered early (413, 408): the rest of the request is dropped and the connection closed.
        case discarding
        case deciding
        case forwarding
    }

    private var state = State.idle
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var readTimeout: Scheduled<Void>?
    private var requestId = ""
    private var received = NIODeadline.now()
    private var upstreamStart: NIODeadline?
    private var verdict: Verdict?
    private var sentHead = false
    private var channelOpen = true
    private var retried = false
    /// The upstream connection carrying the call in flight, for back-pressure.
    private var upstreamConnection: UpstreamConnection?
    /// Requests a client pipelined while one was in flight, replayed in order once it is
    /// answered. (NIO's pipelining helper does this by pausing reads, which costs two
    /// epoll_ctl calls per request.)
    private var backlog: [HTTPServerRequestPart] = []
    static let maxBacklog = 1024
    /// Graceful shutdown: close once the call in flight is answered.
    private var quiescing = false

    init(core: GatewayCore, pool: UpstreamPool) {
        self.core = core
        self.pool = pool
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelInactive(context: ChannelHandlerContext) {
        channelOpen = false
        readTimeout?.cancel()
        // Nobody takes the rest of an answer now: let it drain so the connection can be reused.
        upstreamConnection?.resumeReading()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstreamConnection?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    /// A request NIO's decoder cannot parse: answered 400 and audited like any refusal, then
    /// the connection closes (the decoder cannot find the next request). During an answer,
    /// closing is the only honest signal left. (This replaces NIO's protocol-error handler,
    /// which also inspected every outgoing part.)
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !isBusy, backlog.isEmpty, channelOpen else { return context.close(promise: nil) }
        // Already answered (413, 408) and closing: the decoder complains about the cut-off body.
        if case .discarding = state { return context.close(promise: nil) }
        if case .reading = state {
        } else {
            head = nil
            requestId = RequestIds.next()
            received = .now()
        }
        refuseEarly(.malformedRequest)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        if case .idle = state, backlog.isEmpty { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // Parts read while an earlier call is in flight wait their turn, so answers keep order.
        guard isBusy || !backlog.isEmpty else { return handle(part) }
        guard backlog.count < Self.maxBacklog else { return context.close(promise: nil) }
        backlog.append(part)
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
        if quiescing && backlog.isEmpty { return context.close(promise: nil) }
        guard !backlog.isEmpty else { return }
        // On a later tick, so this answer's bookkeeping finishes first.
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self else { return }
            while !self.backlog.isEmpty, !self.isBusy {
                self.handle(self.backlog.removeFirst())
            }
            if self.quiescing, case .idle = self.state, self.backlog.isEmpty { self.context?.close(promise: nil) }
        }
    }

    private func handle(_ part: HTTPServerRequestPart) {
        guard let context else { return }
        switch part {
        case .head(let head):
            guard case .idle = state else { return }
            state = .reading
            self.head = head
            body = nil
            sentHead = false
            retried = false
            verdict = nil
            upstreamStart = nil
            received = .now()
            requestId = Self.requestId(head.headers)
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > core.config.maxBodyBytes {
                return refuseEarly(.bodyTooLarge(limit: core.config.maxBodyBytes))
            }
            readTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(core.config.requestTimeoutMs))) {
                [weak self] in
                guard let self, case .reading = self.state else { return }
                self.refuseEarly(.requestTimeout)
            }
        case .body(var part):
            guard case .reading = state else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > core.config.maxBodyBytes {
                return refuseEarly(.bodyTooLarge(limit: core.config.maxBodyBytes))
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            switch state {
            case .reading:
                readTimeout?.cancel()
                state = .deciding
                decide()
            case .discarding:
                state = .idle
            default: break
            }
        }
    }

    // MARK: deciding

    private func decide() {
        guard let head, let context else { return }
        received = .now()
        let started = Date()
        guard let (policies, directory) = core.snapshot() else {
            let record = AuditRecord(
                time: started, requestId: requestId, method: head.method.rawValue, path: head.uri, sourceIp: peerAddress, policyRevision: "")
            return finish(Authorizer.refuse(Verdict(record: record), .notReady))
        }
        let call = Call(
            method: head.method.rawValue, target: head.uri, token: Self.token(head.headers), userAgent: head.headers.first(name: "user-agent"),
            forwardedFor: head.headers.first(name: "x-forwarded-for"), forwardedProto: head.headers.first(name: "x-forwarded-proto"),
            peer: peerAddress, body: body.map { Array($0.readableBytesView) } ?? [], now: started)
        switch core.authorizer.authorize(call, requestId: requestId, policies: policies, directory: directory) {
        case .decided(let verdict):
            proceed(verdict)
        case .needsTags(let account, let pending):
            if let tags = core.tags.lookup(account) {
                core.metrics.tagHits.increment()
                return proceed(pending.finish(tags: tags))
            }
            core.metrics.tagMisses.increment()
            let generation = core.tags.generation(account)
            let path = core.config.tagsPath.replacing("{resource_id}", with: account)
            let loop = context.eventLoop
            pool.acquire { [weak self] result in
                guard let self else { return }
                let fetch = TagFetch { [weak self] tags in
                    guard let self else { return }
                    if let tags {
                        self.core.tags.store(tags, for: account, fetchedAt: generation)
                    } else {
                        self.core.metrics.tagFailures.increment()
                    }
                    // Answer on a later tick: the fetch's connection finishes its own bookkeeping first.
                    loop.assumeIsolated().execute { self.proceed(pending.finish(tags: tags)) }
                }
                switch result {
                case .success(let connection):
                    connection.send(
                        TagFetch.request(path: path, requestId: self.requestId, host: self.core.upstream.hostHeader), body: nil, to: fetch,
                        timeout: .milliseconds(Int64(self.core.config.upstreamTimeoutMs)))
                case .failure(let failure):
                    fetch.upstreamFailed(failure)
                }
            }
        }
    }

    private func proceed(_ decided: Verdict) {
        var verdict = decided
        verdict.record.authorizeMicros = micros(since: received)
        if verdict.refusal == nil && core.config.auditRequired && !core.audit.isHealthy {
            verdict = Authorizer.refuse(verdict, .auditUnavailable)
        }
        guard verdict.refusal == nil, channelOpen else { return finish(verdict) }
        self.verdict = verdict
        state = .forwarding
        if let handler = verdict.handler { return answerLocally(handler) }
        forward()
    }

    /// Runs a local API (blocking SQLite work) on NIO's thread pool, then answers here.
    private func answerLocally(_ handler: LocalHandler) {
        guard let context, let verdict, let (_, directory) = core.snapshot() else { return }
        let local = core.local
        let call = LocalCall(
            handler: handler, session: verdict.session, organization: directory.organization, parameters: verdict.parameters,
            query: verdict.target?.rawQuery, body: body.map { Array($0.readableBytesView) } ?? [], now: verdict.record.time)
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) {
            local.handle(call)
        }.assumeIsolated().whenComplete { [weak self] result in
            guard let self, var verdict = self.verdict else { return }
            switch result {
            case .success(.success(let answer)):
                verdict.record.status = answer.status
                verdict.record.changes = answer.changes
                if let user = answer.actingUser { verdict.record.user = user }
                // The gateway's own writes do not move SQLite's data_version for its connection.
                if !answer.changes.isEmpty { self.core.refreshDirectory(force: true) }
                self.complete(verdict)
                self.respond(status: answer.status, contentType: answer.contentType, body: answer.body, close: !(self.head?.isKeepAlive ?? false))
            case .success(.failure(let refusal)):
                self.finish(Authorizer.refuse(verdict, refusal))
            case .failure(let error):
                self.finish(Authorizer.refuse(verdict, .localFailure("\(error)")))
            }
        }
    }

    // MARK: forwarding

    private func forward() {
        guard let head, let verdict, let session = verdict.session else { return }
        var headers = HTTPHeaders()
        let dropped = Self.connectionHeaders(head.headers)
        let bearer = head.headers.first(name: "x-auth-token") == nil
        for (name, value) in head.headers {
            let lowered = name.lowercased()
            if dropped.contains(lowered) || lowered == "x-auth-token" || lowered == "x-request-id" || lowered == "x-gatehouse-principal"
                || lowered == "content-length" || (bearer && lowered == "authorization")
            {
                continue
            }
            headers.add(name: name, value: value)
        }
        headers.add(name: "X-Request-Id", value: requestId)
        // HTTP/1.1 requires Host; an HTTP/1.0 caller may not have sent one.
        if !headers.contains(name: "host") { headers.add(name: "Host", value: core.upstream.hostHeader) }
        if let urn = session.principal.urn { headers.add(name: "X-Gatehouse-Principal", value: urn) }
        let forwardedFor = head.headers.first(name: "x-forwarded-for").map { "\($0), \(peerAddress)" } ?? peerAddress
        headers.replaceOrAdd(name: "X-Forwarded-For", value: forwardedFor)
        let length = body?.readableBytes ?? 0
        if length > 0 || [.POST, .PUT, .PATCH].contains(head.method) { headers.add(name: "Content-Length", value: String(length)) }
        let upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
        upstreamStart = .now()
        pool.acquire(fresh: retried) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let connection):
                self.upstreamConnection = connection
                connection.send(upstreamHead, body: self.body, to: self, timeout: .milliseconds(Int64(self.core.config.upstreamTimeoutMs)))
            case .failure(let failure):
                self.upstreamFailed(failure)
            }
        }
    }

    func upstreamHead(_ response: HTTPResponseHead) {
        guard let context, let head else { return }
        sentHead = true
        verdict?.record.status = Int(response.status.code)
        var headers = HTTPHeaders()
        let dropped = Self.connectionHeaders(response.headers)
        for (name, value) in response.headers where !dropped.contains(name.lowercased()) { headers.add(name: name, value: value) }
        if !headers.contains(name: "x-request-id") { headers.add(name: "X-Request-Id", value: requestId) }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        guard channelOpen else { return }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard let context, channelOpen else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        if buffer.readableBytes >= 16 * 1024 || !context.channel.isWritable { context.flush() }
        // More is queued for the client than its socket takes: stop reading the upstream
        // until it drains (channelWritabilityChanged resumes).
        if !context.channel.isWritable { upstreamConnection?.pauseReading() }
    }

    func upstreamEnd() {
        upstreamConnection = nil
        guard let context, var verdict else { return }
        verdict.record.upstreamMicros = upstreamStart.map(micros(since:))
        if let account = verdict.changesTagsOf, (200..<300).contains(verdict.record.status) { core.tags.invalidate(account) }
        complete(verdict)
        guard channelOpen else { return }
        let keepAlive = head?.isKeepAlive ?? false
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { return written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        responseDone()
    }

    func upstreamFailed(_ failure: Upstream.Failure) {
        upstreamConnection = nil
        guard var verdict else { return }
        verdict.record.upstreamMicros = upstreamStart.map(micros(since:))
        switch failure {
        case .closed(receivedHead: false) where !retried && (head?.method == .GET || head?.method == .HEAD):
            // Most likely the service closed an idle keep-alive connection as it was reused;
            // a safe method is tried once more on a new connection.
            retried = true
            return forward()
        case .closed(receivedHead: true), .timeout(receivedHead: true), .tooLarge:
            // Part of the answer is out: the only honest signal left is closing the connection.
            core.metrics.upstreamError("broken_answer")
            verdict.record.reason = "upstream_broken_answer"
            complete(verdict)
            context?.close(promise: nil)
        case .timeout(receivedHead: false):
            core.metrics.upstreamError("timeout")
            finish(Authorizer.refuse(verdict, .upstreamTimeout))
        case .closed(receivedHead: false):
            core.metrics.upstreamError("closed")
            finish(Authorizer.refuse(verdict, .upstreamUnavailable("connection closed before an answer")))
        case .connect(let detail):
            core.metrics.upstreamError("connect")
            finish(Authorizer.refuse(verdict, .upstreamUnavailable(detail)))
        }
    }

    // MARK: answering

    /// Answers a refusal in the account service's error style, then records it.
    private func finish(_ verdict: Verdict) {
        guard let refusal = verdict.refusal else { return complete(verdict) }
        complete(verdict)
        respond(refusal, close: !(head?.isKeepAlive ?? false))
    }

    /// Records the call (audit line, metrics) and makes the connection ready for the next one.
    private func complete(_ verdict: Verdict) {
        var record = verdict.record
        record.totalMicros = micros(since: received)
        if let loop = context?.eventLoop {
            core.audit.write(record, flushingOn: loop)
        } else {
            core.audit.write(record)
        }
        if !core.audit.isHealthy { core.metrics.auditFailures.increment() }
        core.metrics.decided(record)
        state = .idle
        self.verdict = nil
    }

    private func respond(_ refusal: Refusal, close: Bool) {
        let body = JSONWriter.compact(
            .object([("error_code", .string(refusal.code)), ("error_msg", .string(refusal.message)), ("request_id", .string(requestId))]))
        respond(status: refusal.status, contentType: "application/json", body: body, close: close)
    }

    /// Answers with a body the gateway wrote itself.
    private func respond(status code: Int, contentType: String, body: String, close: Bool) {
        guard let context, channelOpen else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "X-Request-Id", value: requestId)
        if close { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: code)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head?.version ?? .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close { return written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        responseDone()
    }

    /// Answers before the request was read whole (413, 408, 400 for an unparsable one): the
    /// rest is not worth reading. Without a parsed head, method and path read `-`.
    private func refuseEarly(_ refusal: Refusal) {
        readTimeout?.cancel()
        let record = AuditRecord(
            time: Date(), requestId: requestId, method: head?.method.rawValue ?? "-", path: head?.uri ?? "-", sourceIp: peerAddress,
            policyRevision: core.snapshot()?.0.revision ?? "")
        let verdict = Authorizer.refuse(Verdict(record: record), refusal)
        complete(verdict)
        state = .discarding
        respond(refusal, close: true)
    }

    // MARK: helpers

    private var peerAddress: String { context?.channel.remoteAddress?.ipAddress ?? "unknown" }

    private func micros(since start: NIODeadline) -> Int { Int((NIODeadline.now() - start).nanoseconds / 1000) }

    /// The gateway's token: `X-Auth-Token`, else `Authorization: Bearer`.
    static func token(_ headers: HTTPHeaders) -> String? {
        if let token = headers.first(name: "x-auth-token") { return token }
        guard let authorization = headers.first(name: "authorization"), authorization.lowercased().hasPrefix("bearer ") else { return nil }
        return String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
    }

    /// The caller's `X-Request-Id` when it is a sane identifier, else a new random one.
    static func requestId(_ headers: HTTPHeaders) -> String {
        if let given = headers.first(name: "x-request-id"), (1...128).contains(given.utf8.count),
            given.utf8.allSatisfy({
                $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || (0x30...0x39).contains($0)
                    || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            })
        {
            return given
        }
        return RequestIds.next()
    }

    /// Hop-by-hop headers plus those the `Connection` header names.
    static func connectionHeaders(_ headers: HTTPHeaders) -> Set<String> {
        guard headers.contains(name: "connection") else { return hopByHop }
        var names = hopByHop
        // canonicalForm splits the comma-separated list and trims each name.
        for value in headers[canonicalForm: "connection"] { names.insert(value.lowercased()) }
        return names
    }
}
