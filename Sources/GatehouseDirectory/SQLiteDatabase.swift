import GRDB

/// Opening a Gatehouse SQLite file: foreign keys enforced, schema brought up to date by the
/// store's migrations. Shared by every store so they all open their files the same way.
public enum SQLiteDatabase {
    public static func open(path: String, migrations: (inout DatabaseMigrator) -> Void) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // The gateway and the `gatehouse directory` CLI share the file: wait for the other's
        // transaction instead of failing at once.
        configuration.busyMode = .timeout(5)
        let database = try DatabaseQueue(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrations(&migrator)
        try migrator.migrate(database)
        return database
    }

    /// Closes a store's connection as the store goes away (call it from the store's
    /// `deinit`). Left to GRDB's own deinitializer, the close raced with another connection
    /// of this process on the same file: a retain landed in memory SQLite had already
    /// reused, and the next transaction there crashed (seen when a store was dropped and the
    /// file reopened at once, as `gatehouse demo` and the tests do). An explicit close first
    /// is GRDB's documented way to end a connection.
    public static func close(_ database: DatabaseQueue) {
        try? database.close()
    }
}
