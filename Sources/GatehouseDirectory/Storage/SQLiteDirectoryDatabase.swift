import Foundation
import GRDB

/// The directory in a SQLite file through GRDB: one connection, transactions serialized by
/// it and, across processes, by SQLite's file lock (the gateway and the `gatehouse
/// directory` CLI share the file). Another process's commit shows in `PRAGMA data_version`.
final class SQLiteDirectoryDatabase: DirectoryDatabase {
    let queue: DatabaseQueue
    let location: String

    init(path: String, migrations: (inout DatabaseMigrator) -> Void) throws {
        queue = try SQLiteDatabase.open(path: path, migrations: migrations)
        location = path
    }

    deinit { SQLiteDatabase.close(queue) }

    func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try queue.read { db in try body(Transaction(db)) }
    }

    /// `announce` means nothing here: another process sees any commit in `data_version`.
    @discardableResult
    func write<T>(announce: Bool, _ body: (any SQLTransaction) throws -> T) throws -> T {
        try queue.write { db in try body(Transaction(db)) }
    }

    func dataVersion() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    func close() { SQLiteDatabase.close(queue) }

    func schemaSteps() throws -> [String] {
        try queue.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
    }

    /// GRDB's connection for the length of one transaction.
    final class Transaction: SQLTransaction {
        let db: Database

        init(_ db: Database) { self.db = db }

        @discardableResult
        func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
            try db.execute(sql: sql, arguments: Self.arguments(arguments))
            return db.changesCount
        }

        func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
            var rows: [SQLRow] = []
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: Self.arguments(arguments))
            while let row = try cursor.next() {
                rows.append(SQLRow(names: Array(row.columnNames), values: row.databaseValues.map(Self.value)))
            }
            return rows
        }

        static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
            StatementArguments(
                values.map { value -> DatabaseValue in
                    switch value.sqlValue {
                    case .null: .null
                    case .integer(let number): number.databaseValue
                    case .real(let number): number.databaseValue
                    case .text(let text): text.databaseValue
                    case .blob(let bytes): Data(bytes).databaseValue
                    }
                })
        }

        static func value(_ value: DatabaseValue) -> SQLValue {
            switch value.storage {
            case .null: .null
            case .int64(let number): .integer(number)
            case .double(let number): .real(number)
            case .string(let text): .text(text)
            case .blob(let data): .blob(Array(data))
            }
        }
    }
}
