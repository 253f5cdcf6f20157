/// The PostgreSQL schema: the SQLite schema's tables (`SQLiteMigrations.swift`) written
/// for PostgreSQL, one statement per string (the extended protocol takes one at a time).
/// PostgreSQL directories start at this schema, so its first step is the SQLite file's
/// steps v1 to v6 at once; later steps go in both lists, named alike.
///
/// Differences from SQLite's: `BIGINT` and `DOUBLE PRECISION` for SQLite's `INTEGER` and
/// `REAL` (booleans stay integers 0 and 1, so both run the same statements); `BYTEA` for
/// `BLOB`; identity columns named `rowid` where the store reads insertion order (`ORDER BY
/// rowid`, which SQLite has on every table); and `directory_version`, the change counter
/// behind `dataVersion()` (SQLite's `PRAGMA data_version` needs no table).
extension DirectoryStore {
    static let postgresMigrations: [PostgresMigration] = [
        PostgresMigration(
            name: "v1-v6: the directory (organization, OUs, accounts, users, groups, attachments, tokens, transfers, outbox, access keys)",
            statements: [
                """
                CREATE TABLE organization (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    management_account_id TEXT NOT NULL,
                    owner_user_id TEXT NOT NULL,
                    address TEXT, business_license_number TEXT, industry TEXT, country TEXT, scale TEXT,
                    root_id TEXT)
                """,
                """
                CREATE TABLE organizational_units (
                    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    parent_id TEXT NOT NULL)
                """,
                """
                CREATE TABLE accounts (
                    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    email TEXT,
                    delegated_administrator BIGINT NOT NULL DEFAULT 0,
                    parent_id TEXT)
                """,
                """
                CREATE TABLE account_tags (
                    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (account_id, key))
                """,
                """
                CREATE TABLE users (
                    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    account_id TEXT NOT NULL REFERENCES accounts(id),
                    email TEXT,
                    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'user')),
                    disabled BIGINT NOT NULL DEFAULT 0,
                    session_generation BIGINT NOT NULL DEFAULT 0)
                """,
                """
                CREATE TABLE user_tags (
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (user_id, key))
                """,
                """
                CREATE TABLE groups (
                    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
                    name TEXT PRIMARY KEY NOT NULL)
                """,
                """
                CREATE TABLE group_members (
                    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
                    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    PRIMARY KEY (group_name, user_id))
                """,
                """
                CREATE TABLE attachments (
                    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'group')),
                    principal TEXT NOT NULL,
                    policy TEXT NOT NULL,
                    position BIGINT NOT NULL,
                    PRIMARY KEY (principal_kind, principal, policy))
                """,
                """
                CREATE TABLE tokens (
                    hash TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    label TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    session_generation BIGINT NOT NULL,
                    mfa BIGINT NOT NULL DEFAULT 0)
                """,
                """
                CREATE INDEX tokens_by_user ON tokens(user_id)
                """,
                """
                CREATE TABLE owner_transfers (
                    id TEXT PRIMARY KEY NOT NULL,
                    from_user_id TEXT NOT NULL REFERENCES users(id),
                    target_user_id TEXT NOT NULL REFERENCES users(id),
                    token_hash TEXT UNIQUE,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'cancelled', 'expired', 'failed')),
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    ended_at DOUBLE PRECISION,
                    failure TEXT,
                    revoked TEXT)
                """,
                """
                CREATE UNIQUE INDEX one_pending_transfer ON owner_transfers(state) WHERE state = 'pending'
                """,
                """
                CREATE TABLE outbox (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    kind TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    recipient TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    attempts BIGINT NOT NULL DEFAULT 0,
                    next_attempt_at DOUBLE PRECISION NOT NULL,
                    delivered_at DOUBLE PRECISION,
                    last_error TEXT)
                """,
                """
                CREATE TABLE access_keys (
                    access_key TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    sealed_secret BYTEA NOT NULL,
                    kek_id TEXT NOT NULL,
                    active BIGINT NOT NULL DEFAULT 1,
                    description TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    last_used_at DOUBLE PRECISION,
                    temporary BIGINT NOT NULL DEFAULT 0,
                    security_token_hash TEXT UNIQUE,
                    expires_at DOUBLE PRECISION,
                    session_generation BIGINT,
                    mfa BIGINT NOT NULL DEFAULT 0,
                    CHECK (temporary = 0 OR (security_token_hash IS NOT NULL AND expires_at IS NOT NULL AND session_generation IS NOT NULL)))
                """,
                """
                CREATE INDEX access_keys_by_user ON access_keys(user_id)
                """,
                """
                CREATE TABLE directory_version (
                    only_row BIGINT PRIMARY KEY CHECK (only_row = 1),
                    version BIGINT NOT NULL)
                """,
                """
                INSERT INTO directory_version (only_row, version) VALUES (1, 0)
                """,
            ]),
        PostgresMigration(name: v7Name, statements: v7Statements),
        PostgresMigration(name: v8Name, statements: v8Statements),
    ]
}
