import Logging
import NIOSSL
import Synchronization

/// The API port's TLS (`listen.tls.cert_file`, `listen.tls.key_file`): a certificate chain
/// and private key from PEM files, TLS 1.2 or later only. Read at start (a bad file stops
/// the gateway) and again on SIGHUP (a bad file then is logged and the current pair keeps
/// serving), so a renewed certificate is taken up without a restart; each new connection
/// uses the pair current when it was accepted.
final class ServerTLS: Sendable {
    let certificateFile: String
    let keyFile: String
    private let current: Mutex<(context: NIOSSLContext, lastRefused: String?)>

    init(certificateFile: String, keyFile: String) throws {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        current = Mutex((try Self.context(certificateFile: certificateFile, keyFile: keyFile), nil))
    }

    var context: NIOSSLContext { current.withLock { $0.context } }

    /// Why the last reload was refused, or nil when it was not (for `/readyz`).
    var lastRefused: String? { current.withLock { $0.lastRefused } }

    /// Reads the files again; on failure keeps the pair in use and says why.
    @discardableResult
    func reload(logger: Logger) -> Bool {
        do {
            let context = try Self.context(certificateFile: certificateFile, keyFile: keyFile)
            current.withLock { $0 = (context, nil) }
            logger.info("TLS certificate reloaded", metadata: ["cert_file": "\(certificateFile)"])
            return true
        } catch {
            current.withLock { $0.lastRefused = "\(error)" }
            logger.error(
                "cannot reload the TLS certificate; the current one keeps serving",
                metadata: ["cert_file": "\(certificateFile)", "error": "\(error)"])
            return false
        }
    }

    static func context(certificateFile: String, keyFile: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw GatewayStartError("listen.tls.cert_file \(certificateFile): cannot read a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw GatewayStartError("listen.tls.cert_file \(certificateFile) holds no certificate") }
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw GatewayStartError("listen.tls.key_file \(keyFile): cannot read a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw GatewayStartError("listen.tls: the certificate and key do not make a TLS context (do they belong together?): \(error)")
        }
    }
}
