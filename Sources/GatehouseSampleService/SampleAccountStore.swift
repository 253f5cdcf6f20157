import Foundation
import GRDB
import GatehouseDirectory

/// The sample account service's state: accounts as the Organizations API returns them, and
/// their tags, in SQLite.
public final class SampleAccountStore: Sendable {
    /// An account as `GET`/`PATCH /v1/organizations/accounts/{account_id}` returns it.
    public struct Account: Sendable, Equatable {
        public var id: String
        public var urn: String
        public var joinMethod: String
        public var status: String
        public var joinedAt: String
        public var name: String
        public var mobilePhone: String?
        public var intlNumberPrefix: String?
        public var email: String?
        public var description: String
    }

    /// What a `PATCH` does to the description: `null` or absent leaves it, a string sets it
    /// (an empty string clears it).
    public enum DescriptionChange: Sendable, Equatable {
        case unchanged
        case set(String)
    }

    /// The longest description accepted, in characters.
    public static let maxDescriptionLength = 1024

    let database: DatabaseQueue

    public init(path: String) throws {
        database = try SQLiteDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1: accounts and tags") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE accounts (
                            id TEXT PRIMARY KEY NOT NULL,
                            urn TEXT NOT NULL,
                            join_method TEXT NOT NULL,
                            status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'pending_closure')),
                            joined_at TEXT NOT NULL,
                            name TEXT NOT NULL,
                            mobile_phone TEXT,
                            intl_number_prefix TEXT,
                            email TEXT,
                            description TEXT NOT NULL DEFAULT '');
                        CREATE TABLE tags (
                            account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                            key TEXT NOT NULL,
                            value TEXT NOT NULL,
                            PRIMARY KEY (account_id, key));
                        """)
            }
        }
    }

    deinit { SQLiteDatabase.close(database) }

    /// Loads the directory's accounts (and their tags) when the store is empty; an existing
    /// store keeps its state, so the service survives restarts.
    public func seedIfEmpty(from seed: DirectorySeed) throws {
        try database.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM accounts")! == 0 else { return }
            for (index, account) in seed.accounts.enumerated() {
                let urn = seed.accountURN(account.id)
                // The seed does not say how members joined; alternate so both values occur.
                try db.execute(
                    sql: """
                        INSERT INTO accounts (id, urn, join_method, status, joined_at, name, email, description)
                        VALUES (?, ?, ?, 'active', ?, ?, ?, '')
                        """,
                    arguments: [
                        account.id, urn, account.id == seed.organization.managementAccountId ? "created" : (index % 2 == 0 ? "created" : "invited"),
                        "2022-08-24T06:41:15Z", account.name, account.email,
                    ])
                for (key, value) in account.tags {
                    try db.execute(sql: "INSERT INTO tags (account_id, key, value) VALUES (?, ?, ?)", arguments: [account.id, key, value])
                }
            }
        }
    }

    static func account(_ row: Row) -> Account {
        Account(
            id: row["id"], urn: row["urn"], joinMethod: row["join_method"], status: row["status"], joinedAt: row["joined_at"], name: row["name"],
            mobilePhone: row["mobile_phone"], intlNumberPrefix: row["intl_number_prefix"], email: row["email"], description: row["description"])
    }

    public func account(_ id: String) throws -> Account? {
        try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM accounts WHERE id = ?", arguments: [id]).map(Self.account) }
    }

    /// A page of accounts after `marker` (an account ID), and the marker of the next page.
    public func accounts(limit: Int, after marker: String?) throws -> (accounts: [Account], nextMarker: String?) {
        try database.read { db in
            let start = try marker.flatMap { try Int64.fetchOne(db, sql: "SELECT rowid FROM accounts WHERE id = ?", arguments: [$0]) } ?? 0
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM accounts WHERE rowid > ? ORDER BY rowid LIMIT ?", arguments: [start, limit + 1])
            let page = rows.prefix(limit).map(Self.account)
            return (page, rows.count > limit ? page.last?.id : nil)
        }
    }

    /// Applies a description change; nil when there is no such account.
    public func update(_ id: String, description change: DescriptionChange) throws -> Account? {
        try database.write { db in
            if case .set(let text) = change {
                try db.execute(sql: "UPDATE accounts SET description = ? WHERE id = ?", arguments: [text, id])
            }
            return try Row.fetchOne(db, sql: "SELECT * FROM accounts WHERE id = ?", arguments: [id]).map(Self.account)
        }
    }

    /// The account's tags sorted by key; nil when there is no such account.
    public func tags(_ id: String) throws -> [(key: String, value: String)]? {
        try database.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE id = ?", arguments: [id]) ?? false else { return nil }
            return try Row.fetchAll(db, sql: "SELECT key, value FROM tags WHERE account_id = ? ORDER BY key", arguments: [id]).map {
                ($0["key"], $0["value"])
            }
        }
    }

    /// Adds or overwrites tags in one transaction; false when there is no such account.
    public func tag(_ id: String, _ tags: [(key: String, value: String)]) throws -> Bool {
        try database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE id = ?", arguments: [id]) ?? false else { return false }
            for tag in tags {
                try db.execute(sql: "INSERT OR REPLACE INTO tags (account_id, key, value) VALUES (?, ?, ?)", arguments: [id, tag.key, tag.value])
            }
            return true
        }
    }

    /// Removes tags by key (absent keys are ignored); false when there is no such account.
    public func untag(_ id: String, _ keys: [String]) throws -> Bool {
        try database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE id = ?", arguments: [id]) ?? false else { return false }
            for key in keys { try db.execute(sql: "DELETE FROM tags WHERE account_id = ? AND key = ?", arguments: [id, key]) }
            return true
        }
    }
}
