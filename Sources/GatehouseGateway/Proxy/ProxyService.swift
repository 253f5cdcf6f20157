import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// One upstream pool per event loop. Each pool is only ever touched on its own loop
/// (`UpstreamPool.acquire` checks), which is what makes sharing the table safe.
final class PoolTable: @unchecked Sendable {
    private let pools: [ObjectIdentifier: UpstreamPool]

    init(group: MultiThreadedEventLoopGroup, config: GatewayConfig, address: Upstream.Address, tls: NIOSSLContext?) {
        var pools: [ObjectIdentifier: UpstreamPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamPool(
                eventLoop: loop, address: address, connectTimeout: .milliseconds(Int64(config.upstreamConnectTimeoutMs)),
                maxIdle: config.upstreamMaxIdle, maxHeadBytes: config.maxHeadBytes, tls: tls)
        }
        self.pools = pools
    }

    func pool(for loop: EventLoop) -> UpstreamPool { pools[ObjectIdentifier(loop)]! }
}

/// The proxied API port on SwiftNIO, or the decision listener (`role`), which runs the same
/// handler and stages but answers a proxy in front instead of forwarding.
struct ProxyService: Service {
    let runtime: GatewayRuntime
    let group: MultiThreadedEventLoopGroup
    let pools: PoolTable
    var role = ListenerRole.api
    let ready: @Sendable (Int) -> Void

    func run() async throws {
        let quiesce = ServerQuiescingHelper(group: group)
        let runtime = self.runtime
        let (pools, role) = (self.pools, self.role)
        let isAPI = if case .api = role { true } else { false }
        let (host, port) = isAPI ? (runtime.config.listenHost, runtime.config.listenPort) : (runtime.config.authzHost, runtime.config.authzPort)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // TLS, when configured, with the certificate current at accept time (the
                    // API port's only: proxies ask on a private address).
                    let tls = isAPI ? runtime.serverTLS.map { NIOSSLServerHandler(context: $0.context) } : nil
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls) }
                    // One handler reads and writes the bytes itself (see HTTP1 and ProxyHandler).
                    try channel.pipeline.syncOperations.addHandler(
                        ProxyHandler(runtime: runtime, pool: pools.pool(for: channel.eventLoop), isTLS: tls != nil, role: role))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw GatewayStartError("cannot listen on \(host):\(port) (\(isAPI ? "listen" : "authz.listen")): \(error)")
        }
        ready(channel.localAddress?.port ?? 0)
        let drained = group.next().makePromise(of: Void.self)
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
            try await drained.futureResult.get()
        } onGracefulShutdown: {
            if isAPI { runtime.logger.info("shutting down: no new connections; finishing calls in flight") }
            quiesce.initiateShutdown(promise: drained)
        }
    }
}
