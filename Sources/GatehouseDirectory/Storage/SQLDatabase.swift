import Foundation

/// A value bound to a statement or read from a result: the types both SQLite and PostgreSQL
/// keep for the directory (booleans are stored as integers 0 and 1 in both).
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// What a statement's `?` parameters may be bound to.
public protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Data: SQLBindable { public var sqlValue: SQLValue { .blob(Array(self)) } }
extension Array: SQLBindable where Element == UInt8 { public var sqlValue: SQLValue { .blob(self) } }
extension Optional: SQLBindable where Wrapped: SQLBindable { public var sqlValue: SQLValue { self?.sqlValue ?? .null } }

/// Why a stored value cannot be read as the type asked for: the schema and the code
/// disagree, or the database was edited by hand. Refused, never guessed at.
public struct SQLReadError: Error, CustomStringConvertible, Sendable {
    public let column: String
    public let expected: String
    public let found: SQLValue

    public var description: String { "the directory's column \(column) holds \(found), not \(expected)" }
}

/// What a column may be read as.
public protocol SQLColumnDecodable {
    static func decode(_ value: SQLValue, column: String) throws -> Self
}

extension String: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> String {
        guard case .text(let text) = value else { throw SQLReadError(column: column, expected: "text", found: value) }
        return text
    }
}

extension Int: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> Int {
        guard case .integer(let number) = value, let int = Int(exactly: number) else {
            throw SQLReadError(column: column, expected: "an integer", found: value)
        }
        return int
    }
}

extension Int64: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> Int64 {
        guard case .integer(let number) = value else { throw SQLReadError(column: column, expected: "an integer", found: value) }
        return number
    }
}

extension Double: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> Double {
        switch value {
        case .real(let number): return number
        // SQLite keeps a REAL with no fraction as it was written; PostgreSQL always as float8.
        case .integer(let number): return Double(number)
        default: throw SQLReadError(column: column, expected: "a number", found: value)
        }
    }
}

extension Bool: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> Bool {
        guard case .integer(let number) = value, number == 0 || number == 1 else {
            throw SQLReadError(column: column, expected: "0 or 1", found: value)
        }
        return number == 1
    }
}

extension Data: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> Data {
        guard case .blob(let bytes) = value else { throw SQLReadError(column: column, expected: "bytes", found: value) }
        return Data(bytes)
    }
}

extension Optional: SQLColumnDecodable where Wrapped: SQLColumnDecodable {
    public static func decode(_ value: SQLValue, column: String) throws -> Wrapped? {
        value == .null ? nil : try Wrapped.decode(value, column: column)
    }
}

/// One result row: its columns by name, in the order the statement gave them.
public struct SQLRow: Sendable {
    public let names: [String]
    public let values: [SQLValue]

    public init(names: [String], values: [SQLValue]) {
        self.names = names
        self.values = values
    }

    /// The column `name`, read as `T`; throws when there is no such column or it holds
    /// another type.
    public subscript<T: SQLColumnDecodable>(_ name: String) -> T {
        get throws {
            guard let index = names.firstIndex(of: name) else {
                throw SQLReadError(column: name, expected: "a column of the result", found: .null)
            }
            return try T.decode(values[index], column: name)
        }
    }

    /// The first column, read as `T`.
    public func first<T: SQLColumnDecodable>(as type: T.Type = T.self) throws -> T {
        guard let value = values.first else { throw SQLReadError(column: "(first)", expected: "a column", found: .null) }
        return try T.decode(value, column: names[0])
    }
}

/// One transaction of a directory database: statements in a portable subset of SQL with
/// `?` parameters (SQLite's and PostgreSQL's common ground; see `DirectoryDatabase`).
public protocol SQLTransaction: AnyObject {
    /// Runs a statement that returns no rows; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int
    /// Runs a query and returns every row.
    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
}

extension SQLTransaction {
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }

    public func fetchAll(_ sql: String) throws -> [SQLRow] { try fetchAll(sql, []) }

    /// The first row, or nil.
    public func fetchOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try fetchAll(sql, arguments).first
    }

    /// The first column of the first row as `T`, or nil when there is no row (or the value
    /// is NULL).
    public func value<T: SQLColumnDecodable>(as type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> T? {
        guard let row = try fetchOne(sql, arguments) else { return nil }
        return try row.first(as: T?.self)
    }

    /// The first column of every row as `T`.
    public func column<T: SQLColumnDecodable>(as type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> [T] {
        try fetchAll(sql, arguments).map { try $0.first(as: T.self) }
    }

    /// Whether the query returns any row.
    public func exists(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Bool {
        try fetchOne(sql, arguments) != nil
    }
}

/// Where the directory lives: a SQLite file (the embedded default) or a PostgreSQL server
/// shared by several gateways. Both run the same statements; what differs is behind this
/// protocol: connections, transactions, migrations and how another writer's change is seen.
///
/// The SQL is the two systems' common ground: `?` parameters, `INSERT ... ON CONFLICT DO
/// NOTHING`, booleans as integers, times as seconds since 1970 in double precision, and
/// `ORDER BY rowid` for insertion order (a real column in the PostgreSQL schema).
public protocol DirectoryDatabase: Sendable {
    /// A read-only transaction that sees one consistent state of the whole directory.
    func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// A read-write transaction, all or nothing, as if no other writer ran at the same time
    /// (serialized: a check and the write it guards cannot be split by another process).
    /// `announce`: whether other gateways must hear of the change (false only for rows no
    /// `DirectoryView` reads: access keys' last use, the mail outbox).
    @discardableResult
    func write<T>(announce: Bool, _ body: (any SQLTransaction) throws -> T) throws -> T
    /// A number that changes whenever a transaction, of this process or another, changed the
    /// directory: a cached view compares it to know it is stale.
    func dataVersion() throws -> Int
    /// The schema steps applied to this database, oldest first (`gatehouse directory migrate`).
    func schemaSteps() throws -> [String]
    /// What `--db` named, for messages (never with a password).
    var location: String { get }
    /// Ends the connection(s); later calls fail.
    func close()
    /// Whether other gateways share this directory (their changes must be seen at once, and a
    /// view that cannot be checked is stale).
    var isShared: Bool { get }
    /// Appended to a `SELECT` whose rows the transaction goes on to claim: rows another
    /// transaction holds are skipped rather than waited for (PostgreSQL's `FOR UPDATE SKIP
    /// LOCKED`; SQLite's writers are serialized, so nothing).
    var skipLockedRows: String { get }
    /// Starts listening for changes made anywhere (`DirectoryWatch`); nil when the database
    /// has no such announcements (SQLite: `dataVersion()` is read locally and cheaply).
    func watch(_ events: @escaping @Sendable (DirectoryWatchEvent) -> Void) -> (any DirectoryWatch)?
}

extension DirectoryDatabase {
    /// A write every gateway hears of.
    @discardableResult
    public func write<T>(_ body: (any SQLTransaction) throws -> T) throws -> T { try write(announce: true, body) }

    public var isShared: Bool { false }
    public var skipLockedRows: String { "" }
    public func watch(_ events: @escaping @Sendable (DirectoryWatchEvent) -> Void) -> (any DirectoryWatch)? { nil }
}

/// What a directory watch reports. Delivered on a thread that must not block (an event
/// loop): hand the work on, never read the store in the callback.
public enum DirectoryWatchEvent: Sendable, Equatable {
    /// Listening: every later change will be announced. Also after a reconnection, when
    /// changes made meanwhile were missed, so read the directory again.
    case listening
    /// Something changed: read the directory again.
    case changed
    /// Not listening (the connection is lost, or cannot be made); retried every second.
    /// Until `listening` comes, changes can go unannounced.
    case lost(String)
}

/// A running watch; `stop()` ends it.
public protocol DirectoryWatch: Sendable {
    func stop()
}
