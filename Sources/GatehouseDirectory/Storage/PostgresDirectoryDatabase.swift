import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// The directory on a PostgreSQL server shared by several gateways (postgres-nio).
///
/// One connection per process, on an event loop of its own, used by one transaction at a
/// time: the directory is read whole into each gateway's view and written rarely, and the
/// hot path never touches it. The store's API is synchronous (the CLI, the reload task and
/// the endpoints' thread pool call it), so each statement waits for its answer, bounded by
/// `statementTimeout`; it must never be called on an event loop.
///
/// Writes are `SERIALIZABLE`, so a check and the write it guards (one pending transfer, a
/// link used once, two keys a user) hold across replicas as they do in one SQLite file; a
/// transaction PostgreSQL aborts as a serialization failure is run again, up to 8 times.
/// Each write that changed a row bumps `directory_version` and sends `NOTIFY
/// gatehouse_directory` at commit: `dataVersion()` reads the former, and gateways listen for
/// the latter.
final class PostgresDirectoryDatabase: DirectoryDatabase, @unchecked Sendable {
    // @unchecked: `connection` is read and written only under `lock`.
    let location: String
    let settings: PostgresLocation
    let group: MultiThreadedEventLoopGroup
    private let lock = NIOLock()
    private var connection: PostgresConnection?
    private var closed = false
    /// postgres-nio logs each statement at debug level; the store reports its own errors.
    static let quietLogger = Logger(label: "gatehouse.directory.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// How long a connection attempt, and then any one statement, may take before the
    /// server counts as unreachable (and the connection is dropped).
    static let connectTimeout = TimeAmount.seconds(5)
    static let statementTimeout = TimeAmount.seconds(5)
    /// `pg_advisory_xact_lock`'s key while migrating ("gatehous" in ASCII).
    static let migrationLockKey: Int64 = 0x6761_7465_686f_7573
    /// The channel every directory change is announced on.
    static let notificationChannel = "gatehouse_directory"

    init(location settings: PostgresLocation, migrations: [PostgresMigration]) throws {
        self.settings = settings
        location = settings.description
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try migrate(migrations)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", announce: false, body)
    }

    @discardableResult
    func write<T>(announce: Bool, _ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL SERIALIZABLE", announce: announce, body)
    }

    func schemaSteps() throws -> [String] {
        try read { try $0.column(as: String.self, "SELECT name FROM gatehouse_migrations ORDER BY applied_at, name") }
    }

    func dataVersion() throws -> Int {
        try read { try $0.value(as: Int.self, "SELECT version FROM directory_version") ?? 0 }
    }

    func close() {
        let connection = lock.withLock { () -> PostgresConnection? in
            defer {
                self.connection = nil
                closed = true
            }
            return self.connection
        }
        // Neither waits: the last reference may go on one of this group's own event loops
        // (the change listener's callbacks hold the database), where waiting would deadlock.
        guard let connection else {
            group.shutdownGracefully { _ in }
            return
        }
        let group = self.group
        // The group is shut down off its own event loop, once the connection has closed.
        Self.closeFuture(connection).whenComplete { _ in DispatchQueue.global().async { group.shutdownGracefully { _ in } } }
    }

    var isShared: Bool { true }
    var skipLockedRows: String { " FOR UPDATE SKIP LOCKED" }

    func watch(_ events: @escaping @Sendable (DirectoryWatchEvent) -> Void) -> (any DirectoryWatch)? {
        let listener = ChangeListener(database: self, events: events)
        listener.connect()
        return listener
    }

    /// The connection settings for `settings` (TLS verified when on).
    func configuration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
            tls: .disable)
        if settings.tls {
            do {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.minimumTLSVersion = .tlsv12
                tls.certificateVerification = .fullVerification
                if let caFile = settings.caFile { tls.trustRoots = .file(caFile) }
                configuration.tls = .require(try NIOSSLContext(configuration: tls))
            } catch {
                throw DirectoryError.invalid("cannot set up TLS to \(location): \(error)")
            }
        }
        configuration.options.connectTimeout = Self.connectTimeout
        return configuration
    }

    // MARK: transactions

    /// Runs `body` in a transaction opened by `begin`: committed when it returns, rolled back
    /// when it throws. A serialization failure or deadlock runs it again; a connection found
    /// dead at `BEGIN` is replaced once. A connection lost later is not retried (the commit
    /// may have happened): the caller gets `DirectoryError.unavailable`.
    private func transaction<T>(begin: String, announce: Bool, _ body: (any SQLTransaction) throws -> T) throws -> T {
        try lock.withLock {
            var attempt = 0
            var reconnected = false
            while true {
                attempt += 1
                let transaction = Transaction(connection: try connected())
                do {
                    try transaction.run(begin)
                } catch let error as PostgresStatementError where error.isConnectionLost && !reconnected {
                    reconnected = true
                    dropConnection()
                    continue
                } catch let error as PostgresStatementError {
                    if error.isConnectionLost { dropConnection() }
                    throw error.directoryError(location)
                }
                do {
                    let result = try body(transaction)
                    if announce && transaction.changed > 0 {
                        try transaction.run("UPDATE directory_version SET version = version + 1")
                        try transaction.run("NOTIFY \(Self.notificationChannel)")
                    }
                    try transaction.run("COMMIT")
                    return result
                } catch {
                    if (error as? PostgresStatementError)?.isConnectionLost ?? false {
                        dropConnection()
                    } else {
                        _ = try? transaction.run("ROLLBACK")
                    }
                    if let statementError = error as? PostgresStatementError {
                        if statementError.isRetryable && attempt < 8 {
                            usleep(UInt32.random(in: 1_000...(5_000 * UInt32(attempt))))
                            continue
                        }
                        throw statementError.directoryError(location)
                    }
                    throw error
                }
            }
        }
    }

    /// The open connection, or a new one (under `lock`).
    private func connected() throws -> PostgresConnection {
        if closed { throw DirectoryError.unavailable("the directory \(location) is closed") }
        if let connection, !connection.isClosed { return connection }
        connection = nil
        let configuration = try self.configuration()
        let eventLoop = group.next()
        // Bounded like every statement: the connect timeout covers the TCP connection, not a
        // server that accepts and then says nothing. A connection made after the deadline is
        // closed at once.
        let attempt = PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 1, logger: Self.quietLogger)
        do {
            let opened = try Self.wait(for: attempt, within: Self.connectTimeout + Self.statementTimeout) {
                attempt.whenSuccess { Self.closeFuture($0) }
            }
            connection = opened
            return opened
        } catch {
            throw PostgresStatementError(error: error).directoryError(location, connecting: true)
        }
    }

    /// Waits for `future`, at most `limit`: the wait is on a promise of our own, failed with
    /// `PostgresStatementError.timedOut` at the deadline (when `expired` runs too) whatever
    /// the library does. A query sent as the server went away was seen never to complete, and
    /// a replica then waited for ever, holding the database's lock.
    static func wait<Value: Sendable>(
        for future: EventLoopFuture<Value>, within limit: TimeAmount, expired: @escaping @Sendable () -> Void
    ) throws -> Value {
        let answer = future.eventLoop.makePromise(of: Value.self)
        future.cascade(to: answer)
        let deadline = future.eventLoop.scheduleTask(in: limit) {
            answer.fail(PostgresStatementError.timedOut)
            expired()
        }
        defer { deadline.cancel() }
        return try answer.futureResult.wait()
    }

    /// Closes a connection without waiting (postgres-nio's future-returning close; it also
    /// has an `async` one). The connection is held until it is closed: postgres-nio asserts
    /// that no connection goes away open.
    @discardableResult
    static func closeFuture(_ connection: PostgresConnection) -> EventLoopFuture<Void> {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
        return closing
    }

    private func dropConnection() {
        if let connection { _ = Self.closeFuture(connection) }
        connection = nil
    }

    // MARK: migrations

    /// Brings the schema up to date in one transaction under an advisory lock, so replicas
    /// that start at once apply each step exactly once (the second waits, then finds them
    /// applied). READ COMMITTED, so that after the wait it sees what the first committed.
    /// A database holding a step this build does not know is refused (a newer gatehouse
    /// migrated it).
    private func migrate(_ migrations: [PostgresMigration]) throws {
        try lock.withLock {
            let transaction = Transaction(connection: try connected())
            do {
                try transaction.run("BEGIN")
                try transaction.execute("SELECT pg_advisory_xact_lock(?)", [Self.migrationLockKey])
                try transaction.run("CREATE TABLE IF NOT EXISTS gatehouse_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
                let applied = Set(try transaction.column(as: String.self, "SELECT name FROM gatehouse_migrations"))
                let known = Set(migrations.map(\.name))
                if let unknown = applied.subtracting(known).sorted().first {
                    throw DirectoryError.invalid(
                        "the directory \(location) has schema step \"\(unknown)\", which this gatehouse does not know: it was migrated by a newer version"
                    )
                }
                for migration in migrations where !applied.contains(migration.name) {
                    for statement in migration.statements { try transaction.run(statement) }
                    try transaction.execute(
                        "INSERT INTO gatehouse_migrations (name, applied_at) VALUES (?, ?)", [migration.name, Date().timeIntervalSince1970])
                }
                try transaction.run("COMMIT")
            } catch {
                _ = try? transaction.run("ROLLBACK")
                if let statementError = error as? PostgresStatementError { throw statementError.directoryError(location) }
                throw error
            }
        }
    }

    /// One connection for the length of one transaction.
    final class Transaction: SQLTransaction {
        let connection: PostgresConnection
        /// Rows changed by this transaction's statements so far.
        var changed = 0

        init(connection: PostgresConnection) { self.connection = connection }

        @discardableResult
        func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
            let result = try query(sql, arguments)
            let rows = result.metadata.rows ?? 0
            if result.metadata.command != "SELECT" { changed += rows }
            return rows
        }

        func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
            let result = try query(sql, arguments)
            return try result.rows.map { row in
                var names: [String] = []
                var values: [SQLValue] = []
                for cell in row {
                    names.append(cell.columnName)
                    values.append(try Self.value(cell))
                }
                return SQLRow(names: names, values: values)
            }
        }

        /// A statement of the transaction's own (BEGIN, COMMIT, DDL).
        func run(_ sql: String) throws {
            _ = try query(sql, [], numbered: false)
        }

        private func query(_ sql: String, _ arguments: [any SQLBindable], numbered: Bool = true) throws -> PostgresQueryResult {
            var binds = PostgresBindings(capacity: arguments.count)
            for argument in arguments {
                switch argument.sqlValue {
                case .null: binds.appendNull()
                case .integer(let number): binds.append(number)
                case .real(let number): binds.append(number)
                case .text(let text): binds.append(text)
                case .blob(let bytes): binds.append(ByteBuffer(bytes: bytes))
                }
            }
            let query = PostgresQuery(unsafeSQL: numbered ? Self.numberedParameters(sql) : sql, binds: binds)
            let connection = self.connection
            // Past the deadline the connection is closed too, and the next transaction opens a new one.
            do {
                return try PostgresDirectoryDatabase.wait(
                    for: connection.query(query, logger: PostgresDirectoryDatabase.quietLogger), within: PostgresDirectoryDatabase.statementTimeout
                ) { PostgresDirectoryDatabase.closeFuture(connection) }
            } catch let error as PostgresStatementError {
                throw error
            } catch {
                throw PostgresStatementError(error: error, sql: sql)
            }
        }

        /// SQLite's `?` parameters as PostgreSQL's `$1`, `$2`, ...; a `?` inside a quoted
        /// literal is left alone.
        static func numberedParameters(_ sql: String) -> String {
            var result = ""
            result.reserveCapacity(sql.utf8.count + 8)
            var number = 0
            var quoted = false
            for character in sql {
                if character == "'" { quoted.toggle() }
                if character == "?" && !quoted {
                    number += 1
                    result += "$\(number)"
                } else {
                    result.append(character)
                }
            }
            return result
        }

        static func value(_ cell: PostgresCell) throws -> SQLValue {
            guard let bytes = cell.bytes else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
            case .float4, .float8: return .real(try cell.decode(Double.self))
            case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
            case .bytea: return .blob(Array(bytes.readableBytesView))
            default: return .text(try cell.decode(String.self))
            }
        }
    }
}

/// `LISTEN gatehouse_directory` on a connection of its own, reconnecting every second while
/// the server cannot be reached. Runs entirely on the database's event loop, with futures:
/// nothing here waits.
final class ChangeListener: DirectoryWatch, @unchecked Sendable {
    // @unchecked: `connection` and `stopped` are touched only on `eventLoop`.
    let database: PostgresDirectoryDatabase
    let events: @Sendable (DirectoryWatchEvent) -> Void
    let eventLoop: any EventLoop
    private var connection: PostgresConnection?
    private var stopped = false

    init(database: PostgresDirectoryDatabase, events: @escaping @Sendable (DirectoryWatchEvent) -> Void) {
        self.database = database
        self.events = events
        eventLoop = database.group.next()
    }

    func connect() {
        eventLoop.execute { [self] in
            guard !stopped else { return }
            let configuration: PostgresConnection.Configuration
            do {
                configuration = try database.configuration()
            } catch {
                return retry("\(error)")
            }
            PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 2, logger: PostgresDirectoryDatabase.quietLogger)
                .flatMap { [events] connection -> EventLoopFuture<PostgresConnection> in
                    connection.addListener(channel: PostgresDirectoryDatabase.notificationChannel) { [events] _, _ in events(.changed) }
                    // Answered only once the server listens: from here on no change goes unannounced.
                    return connection.query(
                        PostgresQuery(unsafeSQL: "LISTEN \(PostgresDirectoryDatabase.notificationChannel)"),
                        logger: PostgresDirectoryDatabase.quietLogger
                    )
                    .map { _ in connection }
                }
                .whenComplete { [self] result in
                    switch result {
                    case .failure(let error):
                        retry("cannot listen for directory changes on \(database.location): \(PostgresStatementError(error: error))")
                    case .success(let connection):
                        guard !stopped else {
                            _ = PostgresDirectoryDatabase.closeFuture(connection)
                            return
                        }
                        self.connection = connection
                        events(.listening)
                        connection.closeFuture.whenComplete { [self] _ in
                            self.connection = nil
                            retry("lost the connection that listens for directory changes on \(database.location)")
                        }
                    }
                }
        }
    }

    private func retry(_ why: String) {
        guard !stopped else { return }
        events(.lost(why))
        eventLoop.scheduleTask(in: .seconds(1)) { [self] in connect() }
    }

    func stop() {
        eventLoop.execute { [self] in
            stopped = true
            if let connection { _ = PostgresDirectoryDatabase.closeFuture(connection) }
            connection = nil
        }
    }
}

/// One step of the PostgreSQL schema: statements run in order, in the migration's transaction.
struct PostgresMigration: Sendable {
    let name: String
    let statements: [String]
}

/// A statement PostgreSQL (or the connection to it) refused, with what a person needs:
/// postgres-nio's own description is kept vague on purpose (it may hold data), so the
/// SQLSTATE, the server's message and its detail are taken out here.
struct PostgresStatementError: Error, CustomStringConvertible {
    let sqlState: String?
    let message: String
    let isConnectionLost: Bool

    /// No answer within `PostgresDirectoryDatabase.statementTimeout` (the connection is closed).
    static let timedOut = PostgresStatementError(
        sqlState: nil, message: "no answer within \(PostgresDirectoryDatabase.statementTimeout.nanoseconds / 1_000_000_000) s", isConnectionLost: true
    )

    init(sqlState: String?, message: String, isConnectionLost: Bool) {
        self.sqlState = sqlState
        self.message = message
        self.isConnectionLost = isConnectionLost
    }

    init(error: any Error, sql: String? = nil) {
        if let error = error as? PSQLError {
            sqlState = error.serverInfo?[.sqlState]
            if let info = error.serverInfo {
                message = [info[.message], info[.detail]].compactMap { $0 }.joined(separator: ": ")
            } else {
                message = Self.describe(error)
            }
            // The server's own "going away" errors (57P01 admin shutdown, 57P02 crash, 57P03
            // not accepting connections yet) end the connection as surely as a reset does.
            isConnectionLost =
                (error.serverInfo == nil
                    && [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(error.code))
                || ["57P01", "57P02", "57P03"].contains(sqlState ?? "")
        } else {
            sqlState = nil
            message = "\(error)"
            isConnectionLost = error is ChannelError || error is IOError
        }
    }

    /// postgres-nio's client-side failures in words an operator can act on (its own
    /// descriptions are codes, or NIO's nested connection errors).
    static func describe(_ error: PSQLError) -> String {
        switch error.code {
        case .connectionError: "cannot connect: " + reason(error.underlying)
        case .sslUnsupported: "the server does not offer TLS (sslmode=verify-full needs it; sslmode=disable only on a trusted network)"
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest: "TLS to the server failed: " + reason(error.underlying)
        case .authMechanismRequiresPassword: "the server wants a password: give it in the URL or in password_file"
        case .unsupportedAuthMechanism: "the server asks for a login method postgres-nio does not offer (use scram-sha-256 or md5)"
        case .saslError: "the login failed: " + reason(error.underlying)
        case .serverClosedConnection, .uncleanShutdown: "the server closed the connection"
        case .clientClosedConnection: "the connection was closed"
        default: "\(error.code)" + (error.underlying.map { ": " + reason($0) } ?? "")
        }
    }

    /// The innermost reason of a connection failure: the system's words for an errno.
    static func reason(_ error: (any Error)?) -> String {
        switch error {
        case let failure as NIOConnectionError:
            if let first = failure.connectionErrors.first { return reason(first.error) }
            if let lookup = failure.dnsAError ?? failure.dnsAAAAError { return "cannot resolve the host (\(lookup))" }
            return "no address to connect to"
        case let failure as IOError: return String(cString: strerror(failure.errnoCode)).lowercased()
        case let failure as ChannelError where failure == .connectTimeout(PostgresDirectoryDatabase.connectTimeout):
            return "no answer within \(PostgresDirectoryDatabase.connectTimeout.nanoseconds / 1_000_000_000) s"
        case let failure?: return "\(failure)"
        case nil: return "no reason given"
        }
    }

    /// A serialization failure or deadlock: PostgreSQL aborted the transaction so that the
    /// others could go on; running it again is the documented answer.
    var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }

    var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    func directoryError(_ location: String, connecting: Bool = false) -> DirectoryError {
        if connecting || isConnectionLost || sqlState?.hasPrefix("08") == true || sqlState == "57P01" {
            return .unavailable("the directory \(location) cannot be reached: \(description)")
        }
        return .invalid("the directory \(location) refused a statement: \(description)")
    }
}
