import NIOSSL

/// The TLS every outbound connection of Gatehouse uses (the SMTP relay, an `https`
/// upstream): TLS 1.2 or later, certificate and host-name verification always on, trusting
/// a CA file's certificates or else the system's roots.
public enum ClientTLS {
    /// Why a client TLS context could not be made.
    public enum Failure: Error {
        /// The CA file could not be read as PEM certificates.
        case caFile(any Error)
        case context(any Error)
    }

    public static func context(caFile: String) throws(Failure) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if !caFile.isEmpty {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw .caFile(error)
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .context(error)
        }
    }
}
