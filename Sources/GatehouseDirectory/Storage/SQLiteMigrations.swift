import GRDB

/// The SQLite schema, one GRDB migration per step (their names are recorded in each file's
/// `grdb_migrations`, so they never change). The PostgreSQL schema is the same tables,
/// written for PostgreSQL (`PostgresDirectoryDatabase.migrations`); a new step goes in both.
extension DirectoryStore {
    static func migrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1: organization, accounts, users, groups, attachments, tokens") { db in
            try db.execute(
                sql: """
                    CREATE TABLE organization (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        management_account_id TEXT NOT NULL,
                        owner_user_id TEXT NOT NULL);
                    CREATE TABLE accounts (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        email TEXT,
                        delegated_administrator INTEGER NOT NULL DEFAULT 0);
                    CREATE TABLE account_tags (
                        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY (account_id, key));
                    CREATE TABLE users (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL UNIQUE,
                        account_id TEXT NOT NULL REFERENCES accounts(id),
                        email TEXT,
                        role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'user')),
                        disabled INTEGER NOT NULL DEFAULT 0,
                        session_generation INTEGER NOT NULL DEFAULT 0);
                    CREATE TABLE user_tags (
                        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY (user_id, key));
                    CREATE TABLE groups (
                        name TEXT PRIMARY KEY NOT NULL);
                    CREATE TABLE group_members (
                        group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
                        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        PRIMARY KEY (group_name, user_id));
                    CREATE TABLE attachments (
                        principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'group')),
                        principal TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        PRIMARY KEY (principal_kind, principal, policy));
                    CREATE TABLE tokens (
                        hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        label TEXT,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        revoked_at REAL,
                        session_generation INTEGER NOT NULL);
                    CREATE INDEX tokens_by_user ON tokens(user_id);
                    """)
        }
        migrator.registerMigration("v2: tokens remember whether the login used MFA") { db in
            try db.execute(sql: "ALTER TABLE tokens ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v3: the organization profile") { db in
            for column in ["address", "business_license_number", "industry", "country", "scale"] {
                try db.execute(sql: "ALTER TABLE organization ADD COLUMN \(column) TEXT")
            }
        }
        migrator.registerMigration("v4: ownership transfers and the mail outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE owner_transfers (
                        id TEXT PRIMARY KEY NOT NULL,
                        from_user_id TEXT NOT NULL REFERENCES users(id),
                        target_user_id TEXT NOT NULL REFERENCES users(id),
                        token_hash TEXT UNIQUE,
                        state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'cancelled', 'expired', 'failed')),
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        ended_at REAL,
                        failure TEXT,
                        revoked TEXT);
                    CREATE UNIQUE INDEX one_pending_transfer ON owner_transfers(state) WHERE state = 'pending';
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL,
                        subject_id TEXT NOT NULL,
                        recipient TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL NOT NULL,
                        delivered_at REAL,
                        last_error TEXT);
                    """)
        }
        accessKeyMigration(&migrator)
        migrator.registerMigration("v6: the organization's root and organizational units") { db in
            try db.execute(
                sql: """
                    ALTER TABLE organization ADD COLUMN root_id TEXT;
                    CREATE TABLE organizational_units (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        parent_id TEXT NOT NULL);
                    ALTER TABLE accounts ADD COLUMN parent_id TEXT;
                    """)
        }
        migrator.registerMigration(Self.v7Name) { db in
            for statement in Self.v7Statements { try db.execute(sql: statement) }
        }
        migrator.registerMigration(Self.v8Name) { db in
            for statement in Self.v8Statements { try db.execute(sql: statement) }
        }
    }

    /// v7, the same statements in both dialects: the organization's own code beside its
    /// system ID, and the address a transfer's link goes to when its target had none.
    static let v7Name = "v7: the organization's own code, and the address entered for a transfer"
    static let v7Statements = [
        "ALTER TABLE organization ADD COLUMN organization_code TEXT",
        "ALTER TABLE owner_transfers ADD COLUMN email TEXT",
    ]

    /// v8, both dialects: users' console passwords, as scrypt hashes (`PasswordHash`).
    static let v8Name = "v8: users' console passwords (scrypt hashes)"
    static let v8Statements = ["ALTER TABLE users ADD COLUMN password_hash TEXT"]

    static func accessKeyMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5: access keys (secrets sealed under the key-encryption key) and temporary credentials") { db in
            try db.execute(
                sql: """
                    CREATE TABLE access_keys (
                        access_key TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        sealed_secret BLOB NOT NULL,
                        kek_id TEXT NOT NULL,
                        active INTEGER NOT NULL DEFAULT 1,
                        description TEXT,
                        created_at REAL NOT NULL,
                        last_used_at REAL,
                        temporary INTEGER NOT NULL DEFAULT 0,
                        security_token_hash TEXT UNIQUE,
                        expires_at REAL,
                        session_generation INTEGER,
                        mfa INTEGER NOT NULL DEFAULT 0,
                        CHECK (temporary = 0 OR (security_token_hash IS NOT NULL AND expires_at IS NOT NULL AND session_generation IS NOT NULL)));
                    CREATE INDEX access_keys_by_user ON access_keys(user_id);
                    """)
        }
    }
}
