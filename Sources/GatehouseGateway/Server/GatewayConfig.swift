import Foundation
import GatehouseDirectory
import GatehouseMail
import GatehousePolicy

/// Everything `gatehouse serve` can be told, with its default. Read from a JSON file of
/// sections (`{"listen": {"port": 8080}, "audit": {"required": true}}`), then overridden by
/// environment variables named after the option (`listen.port` -> `GATEHOUSE_LISTEN_PORT`).
public struct GatewayConfig: Sendable, Equatable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 8080
    public var adminHost = "127.0.0.1"
    /// The decision listener for a proxy in front (nginx `auth_request`, Envoy `ext_authz`):
    /// its address and port (-1: off).
    public var authzHost = "127.0.0.1"
    public var authzPort = -1
    /// The `path_prefix` Envoy's HTTP ext_authz filter puts before the original path.
    public var authzEnvoyPathPrefix = "/ext_authz"
    /// `enforce`, or `shadow`: would-be denials of the caller rule, context and decide stages
    /// are logged and forwarded anyway (a first rollout).
    public var mode = "enforce"
    public var adminPort = 9090
    public var threads = 0
    public var upstreamURL = "http://127.0.0.1:8081"
    /// PEM CA certificates for an `https` upstream (empty: the system's roots).
    public var upstreamCAFile = ""
    /// The management account's AK/SK file (`UpstreamSigner`); empty: forwarded unsigned.
    public var upstreamSigning = ""
    public var upstreamConnectTimeoutMs = 1000
    public var upstreamTimeoutMs = 10_000
    public var upstreamMaxIdle = 64
    public var catalog = "samples/catalog.json"
    public var policiesDir = "policies"
    public var policiesWatchIntervalMs = 1000
    /// A second policy set evaluated beside the enforced one on every call, never changing
    /// the answer (empty: none).
    public var policiesShadowDir = ""
    public var directoryPath = "data/directory.sqlite"
    /// A PostgreSQL directory shared by several gateways (`postgres://...`); when set, it is
    /// used instead of `directoryPath`.
    public var directoryURL = ""
    public var directoryRefreshIntervalMs = 100
    /// The key-encryption key that opens access keys' secrets (`KeyEncryptionKey`); empty:
    /// `GATEHOUSE_DIRECTORY_KEY`, else none.
    public var directoryKeyFile = ""
    /// PEM certificate chain and private key for the API port; both empty: plain HTTP.
    public var listenTLSCertFile = ""
    public var listenTLSKeyFile = ""
    public var tagsCacheTTLMs = 5000
    public var tagsPath = "/v1/organizations/resources/{resource_id}/tags"
    public var trustedProxies: [String] = []
    public var maxBodyBytes = 1 << 20
    public var maxHeadBytes = 64 << 10
    public var requestTimeoutMs = 10_000
    public var idleTimeoutMs = 75_000
    public var auditPath = "-"
    public var auditRequired = true
    public var transferValiditySeconds = 24 * 3600
    /// How long a console sign-in lasts.
    public var consoleSessionSeconds = 8 * 3600
    public var mailTransport = "maildir"
    public var mailMaildir = "data/maildir"
    public var mailFrom = "gatehouse@localhost"
    public var mailLinkBase = ""
    public var mailPollIntervalMs = 1000
    public var smtpHost = "127.0.0.1"
    public var smtpPort = 587
    public var smtpSecurity = "starttls"
    public var smtpUsername = ""
    public var smtpPasswordFile = ""
    public var smtpCAFile = ""
    public var smtpTimeoutMs = 30_000

    public init() {}

    /// How one option is read and where it lives in the struct.
    enum Binding {
        case string(WritableKeyPath<GatewayConfig, String>)
        case int(WritableKeyPath<GatewayConfig, Int>, ClosedRange<Int>)
        case bool(WritableKeyPath<GatewayConfig, Bool>)
        case list(WritableKeyPath<GatewayConfig, [String]>)
    }

    struct Option {
        var name: String
        var binding: Binding
        var help: String
        /// Whether an empty string means something ("none", "the default") rather than a mistake.
        var allowsEmpty = false

        var environmentName: String { "GATEHOUSE_" + name.uppercased().replacing(".", with: "_") }
    }

    /// Variables read from the environment only, not options: the key-encryption key itself
    /// (a secret has no place in a configuration file).
    static let environmentOnly: Set<String> = [KeyEncryptionKey.environmentVariable]

    /// The test suite's own switches (`make test` sets them in the environment the tests'
    /// gateways inherit): not options, and not mistakes either.
    static let testSuiteVariables: Set<String> = ["GATEHOUSE_TEST_POSTGRES_URL", "GATEHOUSE_SKIP_POSTGRES"]

    /// Every option; `docs/OPERATIONS.md` documents each (a test keeps the two in step).
    static var options: [Option] {
        [
            Option(name: "listen.host", binding: .string(\.listenHost), help: "address for API traffic"),
            Option(name: "listen.port", binding: .int(\.listenPort, 0...65535), help: "port for API traffic (0: a free port)"),
            Option(
                name: "listen.tls.cert_file", binding: .string(\.listenTLSCertFile),
                help: "PEM certificate chain for HTTPS on the API port (empty: plain HTTP); reloaded on SIGHUP", allowsEmpty: true),
            Option(
                name: "listen.tls.key_file", binding: .string(\.listenTLSKeyFile), help: "PEM private key of that certificate", allowsEmpty: true),
            Option(name: "admin.host", binding: .string(\.adminHost), help: "address for /healthz, /readyz, /metrics"),
            Option(name: "admin.port", binding: .int(\.adminPort, 0...65535), help: "admin port (0: a free port)"),
            Option(
                name: "authz.listen.host", binding: .string(\.authzHost),
                help: "address of the decision listener for nginx auth_request and Envoy ext_authz"),
            Option(
                name: "authz.listen.port", binding: .int(\.authzPort, -1...65535),
                help: "port of the decision listener (-1: off, 0: a free port)"),
            Option(
                name: "authz.envoy_path_prefix", binding: .string(\.authzEnvoyPathPrefix),
                help: "the path_prefix of Envoy's HTTP ext_authz filter, put before the original path"),
            Option(
                name: "mode", binding: .string(\.mode),
                help: "enforce, or shadow: calls the caller rule or the policies would refuse are logged and forwarded anyway"),
            Option(name: "threads", binding: .int(\.threads, 0...256), help: "event-loop threads for API traffic (0: one per runtime)"),
            Option(name: "upstream.url", binding: .string(\.upstreamURL), help: "the account service, http://host:port or https://host[:port]"),
            Option(
                name: "upstream.ca_file", binding: .string(\.upstreamCAFile),
                help: "PEM CA certificates an https upstream's certificate must chain to (empty: the system's roots)", allowsEmpty: true),
            Option(
                name: "upstream.signing", binding: .string(\.upstreamSigning),
                help: "file with the management account's AK/SK: every forwarded call is re-signed with them (empty: not signed)",
                allowsEmpty: true),
            Option(name: "upstream.connect_timeout_ms", binding: .int(\.upstreamConnectTimeoutMs, 1...600_000), help: "connect timeout"),
            Option(name: "upstream.timeout_ms", binding: .int(\.upstreamTimeoutMs, 1...3_600_000), help: "time for the whole upstream answer"),
            Option(name: "upstream.max_idle", binding: .int(\.upstreamMaxIdle, 0...100_000), help: "idle keep-alive connections kept per thread"),
            Option(name: "catalog", binding: .string(\.catalog), help: "route catalog file"),
            Option(name: "policies.dir", binding: .string(\.policiesDir), help: "policy directory (every *.json but *.test.json)"),
            Option(
                name: "policies.shadow_dir", binding: .string(\.policiesShadowDir),
                help: "a second policy directory evaluated beside the enforced one, for the audit log only (empty: none)",
                allowsEmpty: true),
            Option(
                name: "policies.watch_interval_ms", binding: .int(\.policiesWatchIntervalMs, 0...3_600_000),
                help: "how often to look for changed policy files (0: only on SIGHUP)"),
            Option(name: "directory.path", binding: .string(\.directoryPath), help: "the directory's SQLite file"),
            Option(
                name: "directory.url", binding: .string(\.directoryURL),
                help:
                    "a PostgreSQL directory shared by several gateways, postgres://USER@HOST:PORT/DATABASE (password_file=FILE for the password); used instead of directory.path (empty: the SQLite file)",
                allowsEmpty: true),
            Option(
                name: "directory.key_file", binding: .string(\.directoryKeyFile),
                help: "file holding the key-encryption key for access keys' secrets (empty: GATEHOUSE_DIRECTORY_KEY, else none)",
                allowsEmpty: true),
            Option(
                name: "directory.refresh_interval_ms", binding: .int(\.directoryRefreshIntervalMs, 1...60_000),
                help: "how often to look for directory changes made by other processes"),
            Option(
                name: "tags.cache_ttl_ms", binding: .int(\.tagsCacheTTLMs, 0...3_600_000), help: "how long fetched account tags are reused (0: never)"
            ),
            Option(name: "tags.path", binding: .string(\.tagsPath), help: "the account service's list-tags path, with {resource_id}"),
            Option(name: "network.trusted_proxies", binding: .list(\.trustedProxies), help: "CIDRs whose X-Forwarded-For is believed"),
            Option(name: "limits.max_body_bytes", binding: .int(\.maxBodyBytes, 0...(1 << 30)), help: "largest request body (413 beyond)"),
            Option(
                name: "limits.max_head_bytes", binding: .int(\.maxHeadBytes, 1024...(1 << 20)),
                help: "largest request line plus headers (431 beyond); also the limit for the account service's answer heads"),
            Option(
                name: "limits.request_timeout_ms", binding: .int(\.requestTimeoutMs, 1...3_600_000),
                help: "time to receive a whole request, from its first byte (408 beyond)"),
            Option(
                name: "limits.idle_timeout_ms", binding: .int(\.idleTimeoutMs, 0...86_400_000),
                help: "how long a keep-alive connection may wait for its next request before it is closed (0: no limit)"),
            Option(name: "audit.path", binding: .string(\.auditPath), help: "audit log file (- for standard output)"),
            Option(name: "audit.required", binding: .bool(\.auditRequired), help: "refuse calls (503) while the audit log cannot be written"),
            Option(
                name: "transfers.validity_seconds", binding: .int(\.transferValiditySeconds, 1...31_536_000),
                help: "how long an ownership transfer's link is valid"),
            Option(
                name: "console.session_seconds", binding: .int(\.consoleSessionSeconds, 60...604_800),
                help: "how long a console sign-in lasts (its session cookie's token)"),
            Option(name: "mail.transport", binding: .string(\.mailTransport), help: "how mail is delivered: maildir or smtp"),
            Option(name: "mail.maildir", binding: .string(\.mailMaildir), help: "the maildir folder (transport maildir)"),
            Option(name: "mail.from", binding: .string(\.mailFrom), help: "the sender address"),
            Option(
                name: "mail.link_base", binding: .string(\.mailLinkBase), help: "where confirmation links point (empty: the gateway's own address)",
                allowsEmpty: true),
            Option(name: "mail.poll_interval_ms", binding: .int(\.mailPollIntervalMs, 10...600_000), help: "how often the outbox is looked at"),
            Option(name: "mail.smtp.host", binding: .string(\.smtpHost), help: "the SMTP relay's host name or address (transport smtp)"),
            Option(name: "mail.smtp.port", binding: .int(\.smtpPort, 1...65535), help: "the SMTP relay's port"),
            Option(
                name: "mail.smtp.security", binding: .string(\.smtpSecurity),
                help: "starttls (required, not opportunistic), tls (from the first byte) or none (a relay on this host)"),
            Option(name: "mail.smtp.username", binding: .string(\.smtpUsername), help: "login for AUTH (empty: no login)", allowsEmpty: true),
            Option(
                name: "mail.smtp.password_file", binding: .string(\.smtpPasswordFile), help: "file holding the login's password, read at start",
                allowsEmpty: true),
            Option(
                name: "mail.smtp.ca_file", binding: .string(\.smtpCAFile),
                help: "PEM certificates to trust instead of the system's (empty: the system's)",
                allowsEmpty: true),
            Option(name: "mail.smtp.timeout_ms", binding: .int(\.smtpTimeoutMs, 1...600_000), help: "time for connecting and sending one message"),
        ]
    }

    /// Reads a configuration file (optional) and then the environment; every problem is
    /// reported with its place (GH4003), and nothing is used unless all of it is valid.
    public static func load(file: String?, environment: [String: String]) throws(PolicyLoadError) -> GatewayConfig {
        var config = GatewayConfig()
        if let file {
            let (bytes, json) = try DiagnosticCollector.readJSON(file, code: .badConfig)
            var collector = DiagnosticCollector()
            config.read(json, into: &collector)
            try collector.check(file: file, bytes: bytes)
        }
        var problems: [Diagnostic] = []
        for option in options {
            guard let text = environment[option.environmentName] else { continue }
            if let message = config.apply(option, text: text) {
                problems.append(Diagnostic(.badConfig, message, at: SourceLocation(file: "environment variable \(option.environmentName)")))
            }
        }
        for name in environment.keys.sorted()
        where name.hasPrefix("GATEHOUSE_") && !options.contains(where: { $0.environmentName == name }) && !environmentOnly.contains(name)
            && !testSuiteVariables.contains(name)
        {
            problems.append(Diagnostic(.badConfig, "no option is named \(name)", at: SourceLocation(file: "environment variable \(name)")))
        }
        if let message = config.crossCheck() {
            problems.append(Diagnostic(.badConfig, message, at: SourceLocation(file: file ?? "configuration")))
        }
        guard problems.isEmpty else { throw PolicyLoadError(problems) }
        return config
    }

    mutating func read(_ json: JSONValue, into collector: inout DiagnosticCollector) {
        guard case .object(let top) = json else {
            collector.report(.badConfig, "a configuration file is a JSON object of sections", at: .root)
            return
        }
        func visit(_ members: [(key: String, value: JSONValue)], prefix: String, at path: JSONPath) {
            for (key, value) in members {
                let name = prefix.isEmpty ? key : prefix + "." + key
                let place = path.appending(key)
                if let option = Self.options.first(where: { $0.name == name }) {
                    if let message = apply(option, json: value) { collector.report(.badConfig, message, at: place) }
                } else if case .object(let inner) = value, Self.options.contains(where: { $0.name.hasPrefix(name + ".") }) {
                    visit(inner, prefix: name, at: place)
                } else {
                    let known = Self.options.map(\.name).filter { $0.hasPrefix(prefix.isEmpty ? "" : prefix + ".") }
                    collector.report(
                        .badConfig, "unknown option \(name)", hint: "known here: \(known.joined(separator: ", "))", at: place, atKey: true)
                }
            }
        }
        visit(top, prefix: "", at: .root)
    }

    /// Sets an option from a JSON value; returns the problem, if any.
    mutating func apply(_ option: Option, json: JSONValue) -> String? {
        switch (option.binding, json) {
        case (.string(let path), .string(let text)):
            self[keyPath: path] = text
        case (.int(let path, let range), .integer(let number)):
            guard let value = Int(exactly: number), range.contains(value) else {
                return "\(option.name) must be between \(range.lowerBound) and \(range.upperBound)"
            }
            self[keyPath: path] = value
        case (.bool(let path), .bool(let flag)):
            self[keyPath: path] = flag
        case (.list(let path), .array(let items)):
            var values: [String] = []
            for item in items {
                guard case .string(let text) = item else { return "\(option.name) must be a list of strings" }
                values.append(text)
            }
            self[keyPath: path] = values
        default:
            return "\(option.name) must be \(option.binding.kind), not \(json.kindName)"
        }
        return check(option)
    }

    /// Sets an option from an environment variable's text; returns the problem, if any.
    mutating func apply(_ option: Option, text: String) -> String? {
        switch option.binding {
        case .string(let path): self[keyPath: path] = text
        case .int(let path, let range):
            guard let value = Int(text), range.contains(value) else {
                return "\(option.name) must be a whole number between \(range.lowerBound) and \(range.upperBound), not \(JSONWriter.quoted(text))"
            }
            self[keyPath: path] = value
        case .bool(let path):
            switch text.lowercased() {
            case "true", "1", "yes": self[keyPath: path] = true
            case "false", "0", "no": self[keyPath: path] = false
            default: return "\(option.name) must be true or false, not \(JSONWriter.quoted(text))"
            }
        case .list(let path):
            self[keyPath: path] = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return check(option)
    }

    /// Checks that go beyond the type of one value.
    func check(_ option: Option) -> String? {
        switch option.name {
        case "upstream.url" where Upstream.Address(url: upstreamURL) == nil:
            return "upstream.url must look like http://host:port or https://host[:port], not \(JSONWriter.quoted(upstreamURL))"
        case "network.trusted_proxies":
            if let bad = trustedProxies.first(where: { CIDR($0) == nil && IPAddress($0) == nil }) {
                return "network.trusted_proxies lists \(JSONWriter.quoted(bad)), which is neither an address nor a CIDR"
            }
        case "tags.path" where !tagsPath.hasPrefix("/") || !tagsPath.contains("{resource_id}"):
            return "tags.path must start with / and contain {resource_id}"
        case "tags.path":
            if case .failure(let rejection) = RequestTarget.parse(tagsPath(for: "x")) {
                return "tags.path is not a path the gateway can send: \(rejection)"
            }
        case "directory.url" where !directoryURL.isEmpty:
            do {
                _ = try PostgresLocation(url: directoryURL)
            } catch {
                return "directory.url: \(error)"
            }
        case "mode" where !["enforce", "shadow"].contains(mode):
            return "mode is enforce or shadow, not \(JSONWriter.quoted(mode))"
        case "authz.envoy_path_prefix":
            if !authzEnvoyPathPrefix.hasPrefix("/") || authzEnvoyPathPrefix.hasSuffix("/") || authzEnvoyPathPrefix == "/auth/request" {
                return
                    "authz.envoy_path_prefix must start with / and not end with one (nor be /auth/request), not \(JSONWriter.quoted(authzEnvoyPathPrefix))"
            }
        case "mail.transport" where !["maildir", "smtp"].contains(mailTransport):
            return "mail.transport is maildir or smtp, not \(JSONWriter.quoted(mailTransport))"
        case "mail.smtp.security" where SMTPSettings.Security(rawValue: smtpSecurity) == nil:
            return "mail.smtp.security is starttls, tls or none, not \(JSONWriter.quoted(smtpSecurity))"
        case "mail.from" where !SMTPTransport.isSafeAddress(mailFrom):
            return "mail.from must be a plain address (name@domain, no spaces or angle brackets), not \(JSONWriter.quoted(mailFrom))"
        case "mail.link_base" where !(mailLinkBase.isEmpty || mailLinkBase.hasPrefix("http://") || mailLinkBase.hasPrefix("https://")):
            return "mail.link_base must start with http:// or https://"
        default: break
        }
        if !option.allowsEmpty, case .string(let path) = option.binding, self[keyPath: path].isEmpty { return "\(option.name) cannot be empty" }
        return nil
    }

    func crossCheck() -> String? {
        if listenPort != 0 && listenPort == adminPort && listenHost == adminHost { return "listen.port and admin.port must differ" }
        if authzPort > 0 && ((authzPort == listenPort && authzHost == listenHost) || (authzPort == adminPort && authzHost == adminHost)) {
            return "authz.listen.port must differ from listen.port and admin.port"
        }
        if listenTLSCertFile.isEmpty != listenTLSKeyFile.isEmpty {
            return "listen.tls.cert_file and listen.tls.key_file go together: set both for HTTPS, or neither"
        }
        if mailTransport == "smtp" {
            if smtpUsername.isEmpty != smtpPasswordFile.isEmpty {
                return "mail.smtp.username and mail.smtp.password_file go together: set both for a login, or neither"
            }
            if !smtpUsername.isEmpty && smtpSecurity == "none" {
                return "mail.smtp.security none would send the SMTP password in the clear; use starttls or tls"
            }
        }
        return nil
    }

    /// Where the directory is: `directory.url` when set, else `directory.path`.
    public var directoryLocation: String { directoryURL.isEmpty ? directoryPath : directoryURL }

    /// The list-tags path for a resource, its ID percent-encoded into `{resource_id}`.
    public func tagsPath(for resource: String) -> String {
        tagsPath.replacing("{resource_id}", with: RequestTarget.percentEncoded(resource))
    }

    /// The trusted proxies as networks (single addresses become /32 or /128).
    public var trustedNetworks: [CIDR] {
        trustedProxies.compactMap { text in CIDR(text) ?? IPAddress(text).flatMap { CIDR(text + ($0.isIPv4 ? "/32" : "/128")) } }
    }
}

extension GatewayConfig.Binding {
    var kind: String {
        switch self {
        case .string: "a string"
        case .int: "a whole number"
        case .bool: "true or false"
        case .list: "a list of strings"
        }
    }
}

extension DiagnosticCode {
    /// A configuration file or `GATEHOUSE_*` variable that cannot be applied.
    public static let badConfig = DiagnosticCode("GH4003", title: "Invalid gateway configuration")
}
