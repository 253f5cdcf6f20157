import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where a running gateway listens, reported once both ports accept connections.
public struct GatewayEndpoints: Sendable, Equatable {
    public var gateway: String
    public var admin: String
    /// The decision listener for nginx and Envoy (`authz.listen`), when on.
    public var authz: String?
}

/// `gatehouse serve`: the SwiftNIO proxy, the Hummingbird admin API, the reload service
/// (policy reloads, directory refresh, SIGHUP) and the mail outbox as one service group. SIGTERM or SIGINT stop
/// accepting, let in-flight calls finish, then return.
public struct GatewayServer: Sendable {
    public let runtime: GatewayRuntime
    let logger: Logger

    public init(runtime: GatewayRuntime, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
    }

    public func run(onReady: @escaping @Sendable (GatewayEndpoints) -> Void) async throws {
        let threads = runtime.config.threads == 0 ? System.coreCount : runtime.config.threads
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let scheme = runtime.serverTLS == nil ? "http" : "https"
        let ports = ReadyPorts(
            host: runtime.config.listenHost, adminHost: runtime.config.adminHost,
            authzHost: runtime.config.authzPort >= 0 ? runtime.config.authzHost : nil,
            scheme: scheme, onReady: onReady)
        let runtime = self.runtime
        let pools = PoolTable(group: group, config: runtime.config, address: runtime.upstream, tls: runtime.upstreamTLS)
        let proxy = ProxyService(
            runtime: runtime, group: group, pools: pools,
            ready: { port in
                runtime.listeningURL.value = "\(scheme)://\(ReadyPorts.hostPart(runtime.config.listenHost)):\(port)"
                ports.set(gateway: port)
            })
        var decisions: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if runtime.config.authzPort >= 0 {
            let listener = ProxyService(
                runtime: runtime, group: group, pools: pools, role: .decisions(envoyPathPrefix: runtime.config.authzEnvoyPathPrefix),
                ready: { ports.set(authz: $0) })
            decisions.append(
                .init(service: listener, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let admin = AdminAPI.application(runtime: runtime, logger: logger, ready: { ports.set(admin: $0) })
        let reload = ReloadService(runtime: runtime)
        let outbox = OutboxService(runtime: runtime)
        let services = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: proxy, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: admin, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(
                        service: reload, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(
                        service: outbox, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                ] + decisions,
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

/// Calls `onReady` once the proxy, the admin API and the decision listener (when on) are
/// bound.
final class ReadyPorts: Sendable {
    let host: String
    let adminHost: String
    /// The decision listener's address, when it is on.
    let authzHost: String?
    /// The API port's: `https` with `listen.tls`.
    let scheme: String
    let onReady: @Sendable (GatewayEndpoints) -> Void
    private let ports = Mutex<(gateway: Int?, admin: Int?, authz: Int?)>((nil, nil, nil))

    init(host: String, adminHost: String, authzHost: String? = nil, scheme: String = "http", onReady: @escaping @Sendable (GatewayEndpoints) -> Void)
    {
        self.host = host
        self.adminHost = adminHost
        self.authzHost = authzHost
        self.scheme = scheme
        self.onReady = onReady
    }

    func set(gateway: Int? = nil, admin: Int? = nil, authz: Int? = nil) {
        let all = ports.withLock { ports -> (Int, Int, Int?)? in
            if let gateway { ports.gateway = gateway }
            if let admin { ports.admin = admin }
            if let authz { ports.authz = authz }
            guard let g = ports.gateway, let a = ports.admin, authzHost == nil || ports.authz != nil else { return nil }
            return (g, a, ports.authz)
        }
        if let (gateway, admin, authz) = all {
            onReady(
                GatewayEndpoints(
                    gateway: "\(scheme)://\(Self.hostPart(host)):\(gateway)", admin: "http://\(Self.hostPart(adminHost)):\(admin)",
                    authz: authzHost.flatMap { host in authz.map { "http://\(Self.hostPart(host)):\($0)" } }))
        }
    }

    static func hostPart(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
