import Foundation

/// Where a PostgreSQL directory is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?...]`
/// (also `postgresql://`, as libpq spells it). Parameters:
/// - `password_file=PATH`: the password is the file's first line (so it stays out of the
///   configuration, the process list and the shell's history); not with a password in the URL;
/// - `sslmode=disable|verify-full`: TLS to the server. `verify-full` checks the certificate
///   chain and the host name, always; libpq's weaker `require` and `prefer` are refused
///   rather than offered. The default is `disable` for a loopback host and `verify-full`
///   for any other;
/// - `sslrootcert=PATH`: the CA certificates (PEM) to verify with, instead of the system's.
public struct PostgresLocation: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: Bool
    public var caFile: String?

    /// Whether `text` names a PostgreSQL directory rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Reads a URL; throws `DirectoryError.invalid` saying which part is wrong.
    public init(url text: String) throws {
        guard Self.isURL(text), let components = URLComponents(string: text) else {
            throw DirectoryError.invalid("a PostgreSQL directory is postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, not \(Self.redacted(text))")
        }
        guard let host = components.host, !host.isEmpty else { throw DirectoryError.invalid("\(Self.redacted(text)) names no host") }
        guard let user = components.user, !user.isEmpty else { throw DirectoryError.invalid("\(Self.redacted(text)) names no user") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw DirectoryError.invalid("\(Self.redacted(text)) has a port out of range") }
        username = user
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        guard !database.contains("/") else { throw DirectoryError.invalid("\(Self.redacted(text)) names more than a database after the host") }
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(self.host)
        tls = !loopback
        caFile = nil
        var seen = Set<String>()
        for item in components.queryItems ?? [] {
            guard seen.insert(item.name).inserted else { throw DirectoryError.invalid("\(Self.redacted(text)) repeats \(item.name)") }
            let value = item.value ?? ""
            switch item.name {
            case "password_file":
                guard password == nil else {
                    throw DirectoryError.invalid("\(Self.redacted(text)) has both a password and password_file; give one")
                }
                password = try Self.readPassword(value)
            case "sslmode":
                switch value {
                case "disable": tls = false
                case "verify-full": tls = true
                default:
                    throw DirectoryError.invalid(
                        "sslmode=\(value) is not supported: use verify-full (the certificate and host name are checked) or disable")
                }
            case "sslrootcert":
                guard !value.isEmpty else { throw DirectoryError.invalid("sslrootcert needs a file") }
                caFile = value
            default:
                throw DirectoryError.invalid(
                    "\(Self.redacted(text)): unknown parameter \(item.name) (known: password_file, sslmode, sslrootcert)")
            }
        }
        if caFile != nil && !tls { throw DirectoryError.invalid("sslrootcert is given but TLS is off (sslmode=disable)") }
    }

    /// The URL without its password: for logs, messages and `/readyz`.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(shownHost):\(port)/\(database)"
    }

    /// `text` with any password replaced by `***`, for messages about a URL that did not parse.
    public static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"), scheme.upperBound < at else { return text }
        let credentials = text[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }

    static func readPassword(_ path: String) throws -> String {
        guard !path.isEmpty else { throw DirectoryError.invalid("password_file needs a file") }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DirectoryError.invalid("cannot read the PostgreSQL password file \(path): \(error.localizedDescription)")
        }
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let password = line.hasSuffix("\r") ? String(line.dropLast()) : line
        guard !password.isEmpty else { throw DirectoryError.invalid("the PostgreSQL password file \(path) is empty") }
        return password
    }
}
