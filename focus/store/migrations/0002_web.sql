-- 0002: what the web page and the API need to let an administrator in:
-- login sessions and API tokens. Only SHA-256 hashes of their secrets are
-- kept, so a copy of the database file does not log anyone in.

CREATE TABLE admin_sessions (
    secret_hash TEXT    PRIMARY KEY,
    username    TEXT    NOT NULL REFERENCES admins (username) ON UPDATE CASCADE ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);
CREATE INDEX admin_sessions_username ON admin_sessions (username);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    secret_hash  TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL DEFAULT 0
) STRICT;
