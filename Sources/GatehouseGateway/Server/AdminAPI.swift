import GatehousePolicy
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `/healthz`, `/readyz` and `/metrics` on the admin port (Hummingbird).
enum AdminAPI {
    static func application(runtime: GatewayRuntime, logger: Logger, ready: @escaping @Sendable (Int) -> Void) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let (isReady, detail) = runtime.readiness()
            return Response(
                status: isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: JSONWriter.pretty(detail) + "\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            runtime.metrics.registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(runtime.config.adminHost, port: runtime.config.adminPort), serverName: "gatehouse-admin"),
            onServerRunning: { channel in ready(channel.localAddress?.port ?? 0) }, logger: logger)
    }
}
