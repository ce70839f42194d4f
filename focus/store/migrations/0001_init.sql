-- 0001: the first schema. Times are INTEGER Unix nanoseconds (UTC); booleans
-- are INTEGER 0/1. Tables are STRICT so a wrongly typed value is an error,
-- not a silent conversion. Go validates every field first; the CHECKs are
-- the backstop for anything that bypasses it.

CREATE TABLE conferences (
    id                     INTEGER PRIMARY KEY,
    -- Focus URI opaque=app:conf:focus:id:<focus_id>; SIP compares URI
    -- parameter values case-insensitively (RFC 3261 §19.1.4), so do we.
    focus_id               TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    number                 TEXT    NOT NULL UNIQUE,
    name                   TEXT    NOT NULL DEFAULT '',
    subject                TEXT    NOT NULL DEFAULT '',
    organizer              TEXT    NOT NULL DEFAULT '',
    pin                    TEXT    NOT NULL DEFAULT '',
    moderator_pin          TEXT    NOT NULL DEFAULT '',
    admission              TEXT    NOT NULL DEFAULT 'open'
                           CHECK (admission IN ('open', 'pin', 'lobby', 'closed')),
    locked                 INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    max_members            INTEGER NOT NULL DEFAULT 0 CHECK (max_members >= 0),
    wait_for_leader        INTEGER NOT NULL DEFAULT 0 CHECK (wait_for_leader IN (0, 1)),
    end_when_leader_leaves INTEGER NOT NULL DEFAULT 0 CHECK (end_when_leader_leaves IN (0, 1)),
    announcements          INTEGER NOT NULL DEFAULT 1 CHECK (announcements IN (0, 1)),
    expiry                 INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    username     TEXT    NOT NULL UNIQUE, -- RFC 3261 §19.1.4: the user part is case-sensitive
    display_name TEXT    NOT NULL DEFAULT '',
    realm        TEXT    NOT NULL,
    ha1_md5      TEXT    NOT NULL,
    ha1_sha256   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE registrations (
    username   TEXT    NOT NULL REFERENCES users (username) ON UPDATE CASCADE ON DELETE CASCADE,
    contact    TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    transport  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    call_id    TEXT    NOT NULL,
    cseq       INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (username, contact)
) STRICT;

CREATE INDEX registrations_expires_at ON registrations (expires_at);

CREATE TABLE trunks (
    id                      INTEGER PRIMARY KEY,
    name                    TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    peers                   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(peers)),
    username                TEXT    NOT NULL DEFAULT '',
    password                TEXT    NOT NULL DEFAULT '',
    outbound_registrar      TEXT    NOT NULL DEFAULT '',
    outbound_username       TEXT    NOT NULL DEFAULT '',
    outbound_password       TEXT    NOT NULL DEFAULT '',
    outbound_expiry_seconds INTEGER NOT NULL DEFAULT 0 CHECK (outbound_expiry_seconds >= 0),
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
) STRICT;

-- Digest credentials must name one trunk.
CREATE UNIQUE INDEX trunks_username ON trunks (username) WHERE username <> '';

-- A DID routed to no conference (NULL) asks the caller for the number. When
-- the conference goes, its DIDs fall back to asking rather than vanish.
CREATE TABLE trunk_dids (
    trunk_id          INTEGER NOT NULL REFERENCES trunks (id) ON DELETE CASCADE,
    did               TEXT    NOT NULL,
    conference_number TEXT    REFERENCES conferences (number) ON UPDATE CASCADE ON DELETE SET NULL,
    PRIMARY KEY (trunk_id, did)
) STRICT;

CREATE INDEX trunk_dids_conference_number ON trunk_dids (conference_number);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Call records outlive their conference: conference_number keeps saying
-- which one it was after conference_id is set to NULL.
CREATE TABLE call_records (
    id                INTEGER PRIMARY KEY,
    conference_id     INTEGER REFERENCES conferences (id) ON DELETE SET NULL,
    conference_number TEXT    NOT NULL,
    participant       TEXT    NOT NULL,
    call_id           TEXT    NOT NULL,
    role              TEXT    NOT NULL DEFAULT '',
    codec             TEXT    NOT NULL DEFAULT '',
    joined_at         INTEGER NOT NULL,
    left_at           INTEGER,
    reason            TEXT    NOT NULL DEFAULT '',
    packets_received  INTEGER NOT NULL DEFAULT 0,
    packets_lost      INTEGER NOT NULL DEFAULT 0,
    jitter_ms         REAL    NOT NULL DEFAULT 0,
    mos               REAL    NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX call_records_conference ON call_records (conference_id, joined_at);
CREATE INDEX call_records_joined_at ON call_records (joined_at);
CREATE INDEX call_records_open ON call_records (id) WHERE left_at IS NULL;

CREATE TABLE admins (
    username      TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
