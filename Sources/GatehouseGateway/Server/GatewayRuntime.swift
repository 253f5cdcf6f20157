import Foundation
import GatehouseDirectory
import GatehouseMail
import GatehousePolicy
import GatehouseSigning
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The gateway's shared state: the current policy set and directory view (swapped whole,
/// never edited in place), the tag cache, the audit log and metrics. Every event loop reads
/// it; only reloads write it.
public final class GatewayRuntime: Sendable {
    public let config: GatewayConfig
    public let authorizer: Authorizer
    public let audit: AuditLog
    public let metrics: GatewayMetrics
    public let tags: TagCache
    public let upstream: Upstream.Address
    let store: DirectoryStore
    let local: BuiltInEndpoints
    let mail: MailSender
    let logger: Logger
    /// HTTPS on the API port, when `listen.tls.*` is set.
    let serverTLS: ServerTLS?
    /// TLS to an `https` upstream.
    let upstreamTLS: NIOSSLContext?
    /// Re-signs forwarded calls and tag lookups with the management account's AK/SK
    /// (`upstream.signing`): the Organizations API may be called only from the management
    /// account, so callers' own credentials never go upstream; the gateway's signature does.
    let upstreamSigner: SigningCredentials?

    struct State {
        var policies: PolicySnapshot?
        /// `policies.shadow_dir`'s set, evaluated beside `policies` for the audit log only.
        var shadowPolicies: PolicySnapshot?
        var shadowError: String?
        var directory: DirectoryView?
        var directoryVersion = -1
        var policyError: String?
        var policyErrorAt: Date?
        var directoryError: String?
        /// A shared directory only: why the view may be out of date (the last refresh failed,
        /// or changes are not being announced), nil while it is current. Calls that need the
        /// view are refused meanwhile (`current()`).
        var directoryStale: String?
        /// A shared directory only: whether its changes are announced to this gateway
        /// (`DirectoryWatchEvent`); a failure says why not.
        var watchProblem: String? = GatewayRuntime.notYetListening
    }

    private let state = Mutex(State())
    /// The proxy's own URL once it listens: confirmation links point there unless
    /// `mail.link_base` says otherwise.
    let listeningURL: ListeningURL
    /// `mode: shadow`: would-be denials of the caller rule, context and decide stages are
    /// forwarded (`GatewayError.Kind.isWouldBeDenial`).
    let shadowMode: Bool

    /// Opens everything a gateway needs; throws a message saying what to fix. The first
    /// policy set and directory must be valid, or the gateway does not start.
    public init(config: GatewayConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        guard let upstream = Upstream.Address(url: config.upstreamURL) else { throw GatewayStartError("bad upstream.url \(config.upstreamURL)") }
        self.upstream = upstream
        serverTLS =
            config.listenTLSCertFile.isEmpty
            ? nil : try ServerTLS(certificateFile: config.listenTLSCertFile, keyFile: config.listenTLSKeyFile)
        upstreamTLS = upstream.tls ? try Self.upstreamTLS(caFile: config.upstreamCAFile) : nil
        do {
            upstreamSigner = config.upstreamSigning.isEmpty ? nil : try SigningCredentials.load(file: config.upstreamSigning)
        } catch {
            throw GatewayStartError("upstream.signing \(error)")
        }
        let catalog = try RouteCatalog.load(config.catalog)
        authorizer = Authorizer(catalog: catalog, trustedProxies: config.trustedNetworks)
        audit = try AuditLog(path: config.auditPath)
        metrics = GatewayMetrics()
        tags = TagCache(ttl: .milliseconds(config.tagsCacheTTLMs))
        if config.directoryURL.isEmpty && !FileManager.default.fileExists(atPath: config.directoryPath) {
            throw GatewayStartError("no directory at \(config.directoryPath); create one with gatehouse directory init")
        }
        let keyEncryptionKey: KeyEncryptionKey?
        do {
            keyEncryptionKey = try KeyEncryptionKey.resolve(file: config.directoryKeyFile)
        } catch {
            throw GatewayStartError("directory.key_file: \(error)")
        }
        store = try DirectoryStore(path: config.directoryLocation, keyEncryptionKey: keyEncryptionKey)
        local = BuiltInEndpoints(
            store: store, transferValidity: TimeInterval(config.transferValiditySeconds),
            consoleSessionLifetime: TimeInterval(config.consoleSessionSeconds))
        let listening = ListeningURL()
        listeningURL = listening
        let configured = config.mailLinkBase
        mail = MailSender(
            store: store, transport: try config.makeMailTransport(), from: config.mailFrom,
            confirmationLink: { token in
                var base = configured.isEmpty ? (listening.value ?? "http://127.0.0.1") : configured
                if base.hasSuffix("/") { base.removeLast() }
                return "\(base)/owner-transfer/confirm?token=\(RequestTarget.percentEncoded(token))"
            },
            organizationName: { [store] in (try? store.profile().name) ?? "your organization" }, logger: logger)
        let policies = try PolicySnapshot.load(directory: config.policiesDir)
        let shadowPolicies = config.policiesShadowDir.isEmpty ? nil : try PolicySnapshot.load(directory: config.policiesShadowDir)
        shadowMode = config.mode == "shadow"
        let version = try store.dataVersion()
        let view = try store.view()
        let signal = DirectoryChangeSignal()
        directoryChanges = signal
        watch = store.watch { event in signal.yield(event) }
        let shared = store.isShared
        state.withLock {
            $0.directory = view
            $0.directoryVersion = version
            // A shared directory is not current until its first announcement arrives: until
            // then a change made elsewhere could go unseen.
            if shared { $0.directoryStale = Self.notYetListening }
        }
        adopt(policies)
        if let shadowPolicies {
            state.withLock { $0.shadowPolicies = shadowPolicies }
            logger.info("shadow policy set loaded", metadata: ["revision": "\(shadowPolicies.revision)", "dir": "\(config.policiesShadowDir)"])
        }
        if shadowMode {
            logger.warning(
                "MODE SHADOW: calls the caller rule, a tag lookup or the policies refuse are logged and forwarded anyway; only authentication and unreadable calls are refused"
            )
        }
        warnAboutUnreadableKeys(view)
        updateOutboxDetail()
        // A lost watch makes the view stale at once, on the listener's event loop (a lock and
        // a log line): queued behind directory work, it waited for a read the outage had cut
        // off, and the replica served its old copy as current meanwhile.
        signal.onLost { [unowned self] why in directoryWatchEvent(.lost(why)) }
    }

    /// The outbox's backlog for `/readyz`, read after each delivery round.
    let outboxDetail = Mutex<JSONValue?>(nil)
    /// Where blocking directory work runs (`offPool`), one job at a time.
    let directoryQueue = DispatchQueue(label: "gatehouse.directory")

    /// Why a shared directory's copy is not current at start (not a failure: not logged as one).
    static let notYetListening = "not yet listening for directory changes"

    /// Announcements from a shared directory (`DirectoryWatchEvent`), handed from the
    /// listener's event loop to `ReloadService`, which reads the store (never on an event loop).
    let directoryChanges: DirectoryChangeSignal
    /// The running watch of a shared directory, stopped with the gateway.
    let watch: (any DirectoryWatch)?

    /// Stops listening for directory changes (at shutdown).
    func stopWatching() {
        watch?.stop()
        directoryChanges.finish()
    }

    /// Takes a watch event in: a lost watch makes the view stale at once; `listening` and
    /// `changed` re-read the directory (which makes it current again when the read works).
    func directoryWatchEvent(_ event: DirectoryWatchEvent) {
        switch event {
        case .lost(let why):
            let first = state.withLock { state -> Bool in
                defer {
                    state.watchProblem = why
                    state.directoryStale = why
                }
                return state.watchProblem == nil
            }
            if first {
                logger.error("the directory's changes cannot be seen; calls that need it get 503 until they can", metadata: ["why": "\(why)"])
            }
        case .listening:
            let was = state.withLock { state -> String? in
                defer { state.watchProblem = nil }
                return state.watchProblem
            }
            if was != nil { logger.info("listening for directory changes", metadata: ["directory": "\(store.location)"]) }
            refreshDirectory(force: true)
        case .changed:
            refreshDirectory()
        }
    }

    /// Says loudly that signed calls with some access keys will be refused: the configured
    /// key-encryption key (or its absence) cannot open their secrets.
    private func warnAboutUnreadableKeys(_ view: DirectoryView, previous: DirectoryView? = nil) {
        guard view.unreadableAccessKeys > 0, view.unreadableAccessKeys != previous?.unreadableAccessKeys else { return }
        logger.error(
            "access keys whose secret the key-encryption key cannot open; calls signed with them are refused",
            metadata: [
                "count": "\(view.unreadableAccessKeys)",
                "key": "\(store.keyEncryptionKey?.id ?? "none: set directory.key_file or \(KeyEncryptionKey.environmentVariable)")",
            ])
    }

    /// Access keys accepted since the last flush, with the time of their latest call: the
    /// directory's last-used times are written in batches, off the request path.
    private let accessKeyUses = Mutex<[String: Date]>([:])

    /// Notes that a call authenticated with `accessKey` (one lock, no I/O).
    func noteAccessKeyUse(_ accessKey: String, at time: Date) {
        accessKeyUses.withLock { uses in
            if uses[accessKey].map({ $0 < time }) ?? true { uses[accessKey] = time }
        }
    }

    /// Writes the last-used times noted since the last flush (`ReloadService`, every 15 s).
    func flushAccessKeyUses() {
        let uses = accessKeyUses.withLock { uses in
            defer { uses = [:] }
            return uses
        }
        do {
            try store.recordAccessKeyUse(uses)
        } catch {
            logger.warning("cannot record access keys' last use", metadata: ["error": "\(error)"])
        }
    }

    /// `ClientTLS` (the SMTP relay's too), its failures said in the upstream's words.
    static func upstreamTLS(caFile: String) throws -> NIOSSLContext {
        do {
            return try ClientTLS.context(caFile: caFile)
        } catch .caFile(let error) {
            throw GatewayStartError("upstream.ca_file \(caFile): cannot read PEM certificates (\(error))")
        } catch .context(let error) {
            throw GatewayStartError("cannot set up TLS to the upstream: \(error)")
        }
    }

    /// Puts a newly loaded, valid policy set in service.
    private func adopt(_ policies: PolicySnapshot) {
        state.withLock {
            $0.policies = policies
            $0.policyError = nil
            $0.policyErrorAt = nil
        }
        metrics.policyReload(ok: true)
        logger.info("policy set loaded", metadata: ["revision": "\(policies.revision)", "policies": "\(policies.documents.count)"])
    }

    /// The policy set and directory loaded last, or nil before both exist (whether or not the
    /// directory is current: for what does not decide a call).
    func snapshot() -> (PolicySnapshot, DirectoryView)? {
        state.withLock { state in
            guard let policies = state.policies, let directory = state.directory else { return nil }
            return (policies, directory)
        }
    }

    /// The policy set and directory to decide a call with, or why no call can be decided now:
    /// none loaded yet, or a shared directory whose copy may be out of date.
    func current() -> Result<(PolicySnapshot, DirectoryView), GatewayError> {
        state.withLock { state in
            guard let policies = state.policies, let directory = state.directory else { return .failure(.notReady) }
            if let stale = state.directoryStale { return .failure(.directoryUnavailable(stale)) }
            return .success((policies, directory))
        }
    }

    /// `policies.shadow_dir`'s set, when one is configured and loaded.
    func shadowPolicies() -> PolicySnapshot? {
        config.policiesShadowDir.isEmpty ? nil : state.withLock { $0.shadowPolicies }
    }

    /// Reloads the policy directory (and the shadow one) when its files changed (or always,
    /// on SIGHUP). A set with any invalid file is refused whole; the last good set keeps
    /// serving.
    @discardableResult
    public func reloadPolicies(force: Bool) -> Bool {
        if !config.policiesShadowDir.isEmpty { reloadShadowPolicies(force: force) }
        let current = state.withLock { $0.policies }
        if !force, let current, FileStamp.current(directory: config.policiesDir) == current.stamps { return true }
        do {
            let loaded = try PolicySnapshot.load(directory: config.policiesDir)
            if !force, let current, loaded.revision == current.revision {
                // Touched, or put back as it was after a refused edit: same set, nothing refused now.
                state.withLock {
                    $0.policies = PolicySnapshot(reusing: current, stamps: loaded.stamps)
                    $0.policyError = nil
                    $0.policyErrorAt = nil
                }
                return true
            }
            adopt(loaded)
            return true
        } catch {
            // At most twenty problems, each cut short: the log line and /readyz stay readable
            // whatever a broken (or hostile) file holds; `gatehouse lint` lists them all.
            let message = error.summary()
            let stamps = FileStamp.current(directory: config.policiesDir)
            let repeated = state.withLock { state -> Bool in
                let repeated = state.policyError == message
                state.policyError = message
                state.policyErrorAt = Date()
                // Remember the broken files' stamps so the refusal is logged once, not every tick.
                if let policies = state.policies, let stamps { state.policies = PolicySnapshot(reusing: policies, stamps: stamps) }
                return repeated
            }
            if !repeated || force {
                metrics.policyReload(ok: false)
                logger.error(
                    "policy set refused; the last good set keeps serving",
                    metadata: ["revision": "\(current?.revision ?? "none")", "problems": "\(message)"])
            }
            return false
        }
    }

    /// The shadow set's reload, by the enforced set's rules: refused whole, the last good
    /// one kept, each refusal logged once.
    private func reloadShadowPolicies(force: Bool) {
        let directory = config.policiesShadowDir
        let current = state.withLock { $0.shadowPolicies }
        if !force, let current, FileStamp.current(directory: directory) == current.stamps { return }
        do {
            let loaded = try PolicySnapshot.load(directory: directory)
            let changed = loaded.revision != current?.revision
            state.withLock {
                $0.shadowPolicies = changed ? loaded : current.map { PolicySnapshot(reusing: $0, stamps: loaded.stamps) } ?? loaded
                $0.shadowError = nil
            }
            if changed { logger.info("shadow policy set loaded", metadata: ["revision": "\(loaded.revision)"]) }
        } catch {
            let message = error.summary()
            let stamps = FileStamp.current(directory: directory)
            let repeated = state.withLock { state -> Bool in
                let repeated = state.shadowError == message
                state.shadowError = message
                if let shadow = state.shadowPolicies, let stamps { state.shadowPolicies = PolicySnapshot(reusing: shadow, stamps: stamps) }
                return repeated
            }
            if !repeated || force {
                logger.error("shadow policy set refused; the last good one is still evaluated", metadata: ["problems": "\(message)"])
            }
        }
    }

    /// Re-reads the directory when another process changed it (or always when `force`).
    /// Must not run on an event loop (it reads the store).
    ///
    /// A SQLite directory's last good copy keeps serving when a read fails (the file is this
    /// host's; a failure is a damaged file, said loudly). A shared directory's copy is
    /// current only while its changes are announced and the last read worked: otherwise it
    /// is stale, and calls that need it get 503 until a read works again.
    public func refreshDirectory(force: Bool = false) {
        do {
            let version = try store.dataVersion()
            if !force, version == state.withLock({ $0.directoryVersion }) {
                markCurrent()
                return
            }
            let view = try store.view()
            let previous = state.withLock { state in
                let previous = state.directory
                state.directory = view
                state.directoryVersion = version
                state.directoryError = nil
                return previous
            }
            markCurrent()
            warnAboutUnreadableKeys(view, previous: previous)
        } catch {
            let message = "\(error)"
            let (repeated, stale) = state.withLock { state -> (Bool, Bool) in
                let repeated = state.directoryError == message
                state.directoryError = message
                if store.isShared { state.directoryStale = message }
                return (repeated, store.isShared)
            }
            if !repeated {
                logger.error(
                    stale
                        ? "cannot read the shared directory; calls that need it get 503 until it can be read"
                        : "cannot read the directory; the last good copy keeps serving", metadata: ["error": "\(message)"])
            }
        }
    }

    /// A read of the directory worked: a shared one is current again if its changes are
    /// being announced.
    private func markCurrent() {
        let recovered = state.withLock { state -> Bool in
            let wasStale = state.directoryStale != nil && state.directoryStale != Self.notYetListening
            state.directoryError = nil
            state.directoryStale = store.isShared ? state.watchProblem : nil
            return wasStale && state.directoryStale == nil
        }
        if recovered { logger.info("the directory is current again", metadata: ["directory": "\(store.location)"]) }
    }

    /// `/readyz`: ready when a policy set and directory are loaded and the audit log can be
    /// written (when required); the detail says what was refused last.
    public func readiness() -> (ready: Bool, detail: JSONValue) {
        let state = self.state.withLock { $0 }
        let auditHealthy = audit.isHealthy
        let ready = state.policies != nil && state.directory != nil && state.directoryStale == nil && (auditHealthy || !config.auditRequired)
        let detail: JSONValue = .object([
            ("ready", .bool(ready)),
            (
                "policies",
                .object([
                    ("revision", .string(orNull: state.policies?.revision)),
                    ("count", .integer(Int64(state.policies?.documents.count ?? 0))),
                    ("loaded_at", .string(orNull: state.policies.map { AuditRecord.timestamp($0.loadedAt) })),
                    ("last_refused", .string(orNull: state.policyError)),
                    ("last_refused_at", .string(orNull: state.policyErrorAt.map(AuditRecord.timestamp))),
                ])
            ),
            (
                "directory",
                .object([
                    ("location", .string(store.location)), ("shared", .bool(store.isShared)),
                    ("users", .integer(Int64(state.directory?.seed.users.count ?? 0))), ("error", .string(orNull: state.directoryError)),
                    ("stale", .string(orNull: state.directoryStale)),
                ])
            ),
            ("mode", .string(config.mode)),
            (
                "shadow_policies",
                config.policiesShadowDir.isEmpty
                    ? .null
                    : .object([
                        ("revision", .string(orNull: state.shadowPolicies?.revision)), ("last_refused", .string(orNull: state.shadowError)),
                    ])
            ),
            ("audit", .object([("healthy", .bool(auditHealthy)), ("required", .bool(config.auditRequired))])),
            (
                "tls",
                serverTLS.map { tls in
                    .object([("cert_file", .string(tls.certificateFile)), ("last_refused", .string(orNull: tls.lastRefused))])
                } ?? .null
            ),
            ("mail", mailDetail()),
        ])
        return (ready, detail)
    }
}

extension GatewayRuntime {
    /// The outbox as an operator wants to see it: what waits and why the last attempt failed,
    /// as read after the last delivery round (`updateOutboxDetail`): `/readyz` itself never
    /// waits for the database, which a load balancer's health check must not.
    /// Mail trouble never makes the gateway unready; the calls it answers do not depend on it.
    func mailDetail() -> JSONValue {
        outboxDetail.withLock { $0 } ?? .object([("transport", .string(config.mailTransport))])
    }

    /// Reads the outbox's backlog for `mailDetail` (blocking: off the event loops and
    /// Swift's cooperative pool, see `offPool`).
    func updateOutboxDetail() {
        var members: [(String, JSONValue)] = [("transport", .string(config.mailTransport))]
        do {
            let backlog = try store.outboxBacklog()
            members.append(("waiting", .integer(Int64(backlog.waiting))))
            members.append(("last_error", .string(orNull: backlog.lastError)))
        } catch {
            members.append(("error", .string("cannot read the outbox: \(error)")))
        }
        outboxDetail.withLock { $0 = .object(members) }
    }

    /// Runs blocking directory work (a store read may wait up to its statement deadline) on
    /// a queue of its own, so that it never holds one of Swift's cooperative threads, which
    /// the admin API and every service share (two, on a two-core machine).
    func offPool(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            directoryQueue.async {
                work()
                done.resume()
            }
        }
    }
}

extension GatewayConfig {
    /// The configured mail transport, ready to deliver; throws what to fix (an unreadable
    /// password or CA file) so the gateway does not start with mail that cannot go out.
    func makeMailTransport() throws -> any MailTransport {
        guard mailTransport == "smtp" else { return try MaildirTransport(folder: mailMaildir) }
        var password = ""
        if !smtpPasswordFile.isEmpty {
            do {
                password = try String(contentsOfFile: smtpPasswordFile, encoding: .utf8)
            } catch {
                throw GatewayStartError("cannot read mail.smtp.password_file \(smtpPasswordFile): \(error.localizedDescription)")
            }
            // A file written by `echo` ends in a newline that is not part of the password.
            while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
        }
        let settings = SMTPSettings(
            host: smtpHost, port: smtpPort, security: SMTPSettings.Security(rawValue: smtpSecurity) ?? .starttls, username: smtpUsername,
            password: password, caFile: smtpCAFile, timeout: .milliseconds(Int64(smtpTimeoutMs)))
        do {
            return try SMTPTransport(settings: settings)
        } catch {
            throw GatewayStartError("cannot set up TLS for SMTP (mail.smtp.ca_file \(smtpCAFile)): \(error)")
        }
    }
}

extension PolicySnapshot {
    /// The same documents and compiled sets under new file stamps (a touch, or a refused edit).
    convenience init(reusing other: PolicySnapshot, stamps: [FileStamp]) {
        self.init(documents: Array(other.documents.values), revision: other.revision, stamps: stamps, loadedAt: other.loadedAt)
    }
}

/// The proxy's URL, known once it is bound (free ports are picked at start).
final class ListeningURL: Sendable {
    private let url = Mutex<String?>(nil)
    var value: String? {
        get { url.withLock { $0 } }
        set { url.withLock { $0 = newValue } }
    }
}

/// Directory watch events on their way from the listener (an event loop, which must not
/// block) to the task that reads the store. Only the newest few are kept: each one means
/// "read the directory again", so a burst is one read.
final class DirectoryChangeSignal: Sendable {
    let events: AsyncStream<DirectoryWatchEvent>
    private let continuation: AsyncStream<DirectoryWatchEvent>.Continuation
    private let lost = Mutex<(@Sendable (String) -> Void)?>(nil)

    init() {
        (events, continuation) = AsyncStream.makeStream(of: DirectoryWatchEvent.self, bufferingPolicy: .bufferingNewest(4))
    }

    /// Takes `.lost` at once, where it happens, instead of queueing it.
    func onLost(_ handler: @escaping @Sendable (String) -> Void) { lost.withLock { $0 = handler } }

    func yield(_ event: DirectoryWatchEvent) {
        if case .lost(let why) = event, let handler = lost.withLock({ $0 }) { return handler(why) }
        continuation.yield(event)
    }

    func finish() { continuation.finish() }
}
