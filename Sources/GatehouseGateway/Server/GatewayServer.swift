import Foundation
import GatehousePolicy
import Hummingbird
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Where a running gateway listens, reported once both ports accept connections.
public struct GatewayEndpoints: Sendable, Equatable {
    public var gateway: String
    public var admin: String
}

/// `gatehouse serve`: the SwiftNIO proxy, the Hummingbird admin API and the upkeep (policy
/// reloads, directory refresh, SIGHUP) as one service group. SIGTERM or SIGINT stop
/// accepting, let in-flight calls finish, then return.
public struct GatewayServer: Sendable {
    public let core: GatewayCore
    let logger: Logger

    public init(core: GatewayCore, logger: Logger) {
        self.core = core
        self.logger = logger
    }

    public func run(onReady: @escaping @Sendable (GatewayEndpoints) -> Void) async throws {
        let threads = core.config.threads == 0 ? System.coreCount : core.config.threads
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let ports = ReadyPorts(host: core.config.listenHost, adminHost: core.config.adminHost, onReady: onReady)
        let core = self.core
        let proxy = ProxyService(
            core: core, group: group,
            ready: { port in
                core.listeningURL.value = "http://\(ReadyPorts.hostPart(core.config.listenHost)):\(port)"
                ports.set(gateway: port)
            })
        let admin = AdminAPI.application(core: core, logger: logger, ready: { ports.set(admin: $0) })
        let upkeep = Upkeep(core: core)
        let services = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: proxy, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: admin, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(
                        service: upkeep, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await services.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }
}

/// Calls `onReady` once both the proxy and the admin API are bound.
final class ReadyPorts: Sendable {
    let host: String
    let adminHost: String
    let onReady: @Sendable (GatewayEndpoints) -> Void
    private let ports = Mutex<(gateway: Int?, admin: Int?)>((nil, nil))

    init(host: String, adminHost: String, onReady: @escaping @Sendable (GatewayEndpoints) -> Void) {
        self.host = host
        self.adminHost = adminHost
        self.onReady = onReady
    }

    func set(gateway: Int? = nil, admin: Int? = nil) {
        let both = ports.withLock { ports -> (Int, Int)? in
            if let gateway { ports.gateway = gateway }
            if let admin { ports.admin = admin }
            guard let g = ports.gateway, let a = ports.admin else { return nil }
            return (g, a)
        }
        if let (gateway, admin) = both {
            onReady(GatewayEndpoints(gateway: "http://\(Self.hostPart(host)):\(gateway)", admin: "http://\(Self.hostPart(adminHost)):\(admin)"))
        }
    }

    static func hostPart(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}

/// One upstream pool per event loop. Each pool is only ever touched on its own loop
/// (`UpstreamPool.acquire` checks), which is what makes sharing the table safe.
final class PoolTable: @unchecked Sendable {
    private let pools: [ObjectIdentifier: UpstreamPool]

    init(group: MultiThreadedEventLoopGroup, config: GatewayConfig, address: Upstream.Address) {
        var pools: [ObjectIdentifier: UpstreamPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamPool(
                eventLoop: loop, address: address, connectTimeout: .milliseconds(Int64(config.upstreamConnectTimeoutMs)),
                maxIdle: config.upstreamMaxIdle, maxHeadBytes: config.maxHeadBytes)
        }
        self.pools = pools
    }

    func pool(for loop: EventLoop) -> UpstreamPool { pools[ObjectIdentifier(loop)]! }
}

/// The proxied API port on SwiftNIO.
struct ProxyService: Service {
    let core: GatewayCore
    let group: MultiThreadedEventLoopGroup
    let ready: @Sendable (Int) -> Void

    func run() async throws {
        let quiesce = ServerQuiescingHelper(group: group)
        let pools = PoolTable(group: group, config: core.config, address: core.upstream)
        let core = self.core
        let channel = try await ServerBootstrap(group: group)
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
                    // One handler reads and writes the bytes itself (see HTTP1 and ProxyHandler).
                    try channel.pipeline.syncOperations.addHandler(ProxyHandler(core: core, pool: pools.pool(for: channel.eventLoop)))
                }
            }
            .bind(host: core.config.listenHost, port: core.config.listenPort).get()
        ready(channel.localAddress?.port ?? 0)
        let drained = group.next().makePromise(of: Void.self)
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
            try await drained.futureResult.get()
        } onGracefulShutdown: {
            core.logger.info("shutting down: no new connections; finishing calls in flight")
            quiesce.initiateShutdown(promise: drained)
        }
    }
}

/// Policy reloads on change, directory refresh, the mail outbox, and SIGHUP (reload
/// policies, reopen the audit log, re-read the directory).
struct Upkeep: Service {
    let core: GatewayCore

    func run() async throws {
        let core = self.core
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                guard core.config.policiesWatchIntervalMs > 0 else { return }
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .milliseconds(core.config.policiesWatchIntervalMs))
                    core.reloadPolicies(force: false)
                }
            }
            tasks.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .milliseconds(core.config.directoryRefreshIntervalMs))
                    core.refreshDirectory()
                }
            }
            tasks.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    await core.mail.deliverDue()
                    try? await Task.sleep(for: .milliseconds(core.config.mailPollIntervalMs))
                }
            }
            tasks.addTask {
                for await _ in (await UnixSignalsSequence(trapping: .sighup)).cancelOnGracefulShutdown() {
                    core.logger.info("SIGHUP: reloading policies, reopening the audit log, re-reading the directory")
                    core.reloadPolicies(force: true)
                    if !core.audit.reopen() { core.logger.error("cannot reopen the audit log \(core.config.auditPath)") }
                    core.refreshDirectory(force: true)
                }
            }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics` on the admin port (Hummingbird).
enum AdminAPI {
    static func application(core: GatewayCore, logger: Logger, ready: @escaping @Sendable (Int) -> Void) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let (isReady, detail) = core.readiness()
            return Response(
                status: isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: JSONWriter.pretty(detail) + "\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            core.metrics.registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(core.config.adminHost, port: core.config.adminPort), serverName: "gatehouse-admin"),
            onServerRunning: { channel in ready(channel.localAddress?.port ?? 0) }, logger: logger)
    }
}
