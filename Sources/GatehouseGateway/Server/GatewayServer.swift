import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where a running gateway listens, reported once both ports accept connections.
public struct GatewayEndpoints: Sendable, Equatable {
    public var gateway: String
    public var admin: String
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
        let ports = ReadyPorts(host: runtime.config.listenHost, adminHost: runtime.config.adminHost, scheme: scheme, onReady: onReady)
        let runtime = self.runtime
        let proxy = ProxyService(
            runtime: runtime, group: group,
            ready: { port in
                runtime.listeningURL.value = "\(scheme)://\(ReadyPorts.hostPart(runtime.config.listenHost)):\(port)"
                ports.set(gateway: port)
            })
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
    /// The API port's: `https` with `listen.tls`.
    let scheme: String
    let onReady: @Sendable (GatewayEndpoints) -> Void
    private let ports = Mutex<(gateway: Int?, admin: Int?)>((nil, nil))

    init(host: String, adminHost: String, scheme: String = "http", onReady: @escaping @Sendable (GatewayEndpoints) -> Void) {
        self.host = host
        self.adminHost = adminHost
        self.scheme = scheme
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
            onReady(GatewayEndpoints(gateway: "\(scheme)://\(Self.hostPart(host)):\(gateway)", admin: "http://\(Self.hostPart(adminHost)):\(admin)"))
        }
    }

    static func hostPart(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
