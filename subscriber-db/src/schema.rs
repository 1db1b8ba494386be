//! The schema as an append-only list of migrations. Migration `i` (0-based) brings
//! `PRAGMA user_version` from `i` to `i + 1`; each runs in its own transaction. Never edit a
//! migration that has shipped: add a new one.
//!
//! Timestamps are unix milliseconds (INTEGER). Every subscriber-owned table references
//! `subscribers(id)` with `ON DELETE CASCADE`, so deleting a subscriber removes all it owns.

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE subscribers (
        id           TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        active       INTEGER NOT NULL CHECK (active IN (0, 1)),
        created_at   INTEGER NOT NULL
    ) STRICT;

    -- subscriber_id NULL = operator key. Only the SHA-256 of the token is kept.
    CREATE TABLE api_keys (
        id            INTEGER PRIMARY KEY,
        subscriber_id TEXT REFERENCES subscribers(id) ON DELETE CASCADE,
        token_hash    BLOB NOT NULL UNIQUE,
        prefix        TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        revoked_at    INTEGER
    ) STRICT;
    CREATE INDEX api_keys_subscriber ON api_keys(subscriber_id);

    CREATE TABLE sites (
        id              INTEGER PRIMARY KEY,
        subscriber_id   TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        origin          TEXT NOT NULL,
        secret          BLOB NOT NULL,
        accept_unsigned INTEGER NOT NULL CHECK (accept_unsigned IN (0, 1)),
        created_at      INTEGER NOT NULL,
        UNIQUE (subscriber_id, origin)
    ) STRICT;

    -- The network abstraction table.
    CREATE TABLE routes (
        id               INTEGER PRIMARY KEY,
        subscriber_id    TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        subject_code     TEXT NOT NULL,
        center_number    TEXT NOT NULL,
        dnis             TEXT,
        whisper_template TEXT NOT NULL,
        UNIQUE (subscriber_id, subject_code)
    ) STRICT;

    CREATE TABLE route_fallbacks (
        route_id INTEGER NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        number   TEXT NOT NULL,
        PRIMARY KEY (route_id, position)
    ) STRICT, WITHOUT ROWID;

    -- One JSON document per subscriber, typed by `Policy` on the way in and out.
    CREATE TABLE policies (
        subscriber_id TEXT PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
        body          TEXT NOT NULL
    ) STRICT;

    CREATE TABLE pages (
        id            INTEGER PRIMARY KEY,
        subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        keys          TEXT NOT NULL,
        title         TEXT NOT NULL,
        html          TEXT,
        url           TEXT,
        CHECK ((html IS NULL) <> (url IS NULL)),
        UNIQUE (subscriber_id, keys)
    ) STRICT;

    CREATE TABLE calls (
        id                TEXT PRIMARY KEY,
        subscriber_id     TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        subject_code      TEXT NOT NULL,
        whisper_code      TEXT,
        user_number       TEXT NOT NULL,
        client_ip         TEXT NOT NULL,
        state             TEXT NOT NULL,
        created_at        INTEGER NOT NULL,
        ended_at          INTEGER,
        end_cause         TEXT,
        user_end_cause    TEXT,
        center_end_cause  TEXT
    ) STRICT;
    CREATE INDEX calls_subscriber_created ON calls(subscriber_id, created_at);
    CREATE INDEX calls_active ON calls(subscriber_id) WHERE ended_at IS NULL;
    CREATE INDEX calls_user_number ON calls(user_number, created_at);
    CREATE INDEX calls_client_ip ON calls(client_ip, created_at);

    CREATE TABLE call_events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        at      INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        detail  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX call_events_call ON call_events(call_id, seq);
    "#,
    // 2: the call detail record: one row per dialed leg, who hung up first, and the state
    // and cause words of the typed call record (older words mapped to their new spelling);
    // the Welcome form that asked for the call, so one form creates at most one call.
    r#"
    ALTER TABLE calls ADD COLUMN hung_up_first TEXT;
    ALTER TABLE calls ADD COLUMN form_token TEXT;
    CREATE UNIQUE INDEX calls_form_token ON calls(form_token) WHERE form_token IS NOT NULL;

    CREATE TABLE call_legs (
        call_id              TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        leg                  TEXT NOT NULL,
        attempt              INTEGER NOT NULL,
        number               TEXT NOT NULL,
        trunk                TEXT,
        sip_call_id          TEXT NOT NULL,
        invite_at            INTEGER NOT NULL,
        first_provisional_at INTEGER,
        answered_at          INTEGER,
        ended_at             INTEGER,
        final_status         INTEGER,
        final_reason         TEXT,
        end_cause            TEXT,
        PRIMARY KEY (call_id, leg, attempt)
    ) STRICT, WITHOUT ROWID;

    UPDATE calls SET state = 'starting' WHERE state = 'created';
    UPDATE calls SET state = 'ended' WHERE state = 'failed';
    UPDATE calls SET user_end_cause = 'rejected' WHERE user_end_cause LIKE 'rejected_%';
    UPDATE calls SET center_end_cause = 'rejected' WHERE center_end_cause LIKE 'rejected_%';
    "#,
    // 3: the SIP dialog of every dial and where it is (ringing, answered, ended), so a platform
    // that starts after one that died can end what it left open: CANCEL needs the INVITE's
    // Request-URI, Call-ID, From, To, CSeq number and top Via (RFC 3261 §9.1); BYE needs both
    // tags, the remote target and the route set (§12.2.1.1). `route_set` is a JSON array of
    // Route values in the order they are sent (the 2xx's Record-Route reversed, §12.1.2).
    r#"
    CREATE TABLE leg_dialogs (
        call_id       TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        leg           TEXT NOT NULL,
        attempt       INTEGER NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('ringing', 'answered', 'ended')),
        sip_call_id   TEXT NOT NULL,
        from_header   TEXT NOT NULL,
        to_header     TEXT NOT NULL,
        remote_tag    TEXT,
        request_uri   TEXT NOT NULL,
        cseq          INTEGER NOT NULL,
        via_branch    TEXT NOT NULL,
        via_sent_by   TEXT NOT NULL,
        transport     TEXT NOT NULL CHECK (transport IN ('udp', 'tcp')),
        destination   TEXT NOT NULL,
        remote_target TEXT,
        route_set     TEXT NOT NULL,
        PRIMARY KEY (call_id, leg, attempt)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX leg_dialogs_open ON leg_dialogs(call_id) WHERE state <> 'ended';
    "#,
    // 4: a start after a crash asks, for each INVITE the journal holds, whether any leg with
    // that SIP Call-ID was stored.
    r#"
    CREATE INDEX call_legs_sip_call_id ON call_legs(sip_call_id);
    "#,
    // 5: how a route's context travels to the center (issue 11 item 10): `routes.context` is
    // one JSON document typed by `RouteContext` (NULL: the defaults, fixed DNIS and UUI). Every
    // call gets a numeric session reference, unique among stored calls, and the DNIS it drew
    // from its route's range; the draw reads the subscriber's calls in progress by DNIS.
    r#"
    ALTER TABLE routes ADD COLUMN context TEXT;
    ALTER TABLE calls ADD COLUMN session_ref TEXT;
    ALTER TABLE calls ADD COLUMN drawn_dnis TEXT;
    CREATE UNIQUE INDEX calls_session_ref ON calls(session_ref) WHERE session_ref IS NOT NULL;
    CREATE INDEX calls_drawn_dnis ON calls(subscriber_id, drawn_dnis) WHERE drawn_dnis IS NOT NULL;
    "#,
    // 6: what the visitor's pages show (issue 11): a subscriber's branding (logo, accent
    // colour) and promotional content for the Connect page; a route's label for the subject.
    r#"
    ALTER TABLE subscribers ADD COLUMN logo_url TEXT;
    ALTER TABLE subscribers ADD COLUMN accent_color TEXT;
    ALTER TABLE subscribers ADD COLUMN promo_html TEXT;
    ALTER TABLE routes ADD COLUMN label TEXT;
    "#,
    // 7 (agent desk, issue 12): agents of a subscriber. `password_hash` is an argon2id PHC
    // string; `pin_hmac` is HMAC-SHA256(local_secrets 'agent_pin_key', subscriber ‖ 0 ‖ PIN), so
    // the PIN is never stored and its uniqueness within the subscriber is still one UNIQUE
    // index (NULLs, agents without a PIN, do not collide). `credential_version` goes up on
    // every password reset so console sessions opened with the old password end.
    r#"
    CREATE TABLE local_secrets (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO local_secrets (name, value) VALUES ('agent_pin_key', randomblob(32));

    CREATE TABLE agents (
        id                 INTEGER PRIMARY KEY,
        subscriber_id      TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        login              TEXT NOT NULL,
        display_name       TEXT NOT NULL,
        password_hash      TEXT NOT NULL,
        pin_hmac           BLOB,
        role               TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
        active             INTEGER NOT NULL CHECK (active IN (0, 1)),
        credential_version INTEGER NOT NULL DEFAULT 0,
        created_at         INTEGER NOT NULL,
        UNIQUE (subscriber_id, login),
        UNIQUE (subscriber_id, pin_hmac)
    ) STRICT;
    "#,
    // 8 (agent desk, issue 12 item 2): which agent has the call, set once by a claim (personal
    // PIN or console). The claim is one conditional UPDATE (`agent_id IS NULL`), so two agents
    // claiming at once cannot both win. An agent deleted later leaves the call unclaimed.
    r#"
    ALTER TABLE calls ADD COLUMN agent_id INTEGER REFERENCES agents(id) ON DELETE SET NULL;
    CREATE INDEX calls_agent ON calls(agent_id) WHERE agent_id IS NOT NULL;
    "#,
    // 9 (callback queue, issue 13): every callback request, committed before the visitor sees
    // its confirmation. `page_session` is the visitor's queue page (its link and push
    // channel); each attempt's call has its own record, the latest in `call_id`. A request in
    // `dialing` that a dead process left is settled at start by whether that call dialed
    // anyone (`call_legs`): no leg → waiting again, a leg → never dialed twice.
    // `wanted_at` is when the visitor wanted the call (booked, or the slot's start): the real
    // wait runs from it to `first_dialed_at`; `due_at` moves with each retry.
    // `form_digest` makes one Welcome form book at most one request.
    r#"
    CREATE TABLE callback_requests (
        id                INTEGER PRIMARY KEY,
        subscriber_id     TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        subject_code      TEXT NOT NULL,
        user_number       TEXT NOT NULL,
        page_session      TEXT NOT NULL UNIQUE,
        kind              TEXT NOT NULL CHECK (kind IN ('queued', 'scheduled')),
        priority          INTEGER NOT NULL DEFAULT 0,
        state             TEXT NOT NULL
                          CHECK (state IN ('waiting', 'dialing', 'done', 'cancelled', 'failed')),
        queued_at         INTEGER NOT NULL,
        wanted_at         INTEGER NOT NULL,
        due_at            INTEGER NOT NULL,
        slot_end          INTEGER,
        attempts          INTEGER NOT NULL DEFAULT 0,
        predicted_wait_ms INTEGER,
        first_dialed_at   INTEGER,
        call_id           TEXT REFERENCES calls(id) ON DELETE SET NULL,
        closed_at         INTEGER,
        form_digest       BLOB UNIQUE
    ) STRICT;
    CREATE INDEX callback_queue ON callback_requests
        (subscriber_id, subject_code, priority DESC, due_at, id) WHERE state = 'waiting';
    CREATE INDEX callback_dialing ON callback_requests (state) WHERE state = 'dialing';
    "#,
    // 10 (callback queue, issue 13): what an attempt's call needs that the booking knew: the
    // link's whisper code, the page the visitor came from (spoken in the whisper), the
    // visitor's address (the call record keeps it, as for a direct call) and the key the
    // visitor presses to consent (shown on their page; none when the policy asks none).
    r#"
    ALTER TABLE callback_requests ADD COLUMN consent_key TEXT;
    ALTER TABLE callback_requests ADD COLUMN whisper_code TEXT;
    ALTER TABLE callback_requests ADD COLUMN came_from TEXT;
    ALTER TABLE callback_requests ADD COLUMN client_ip TEXT;
    CREATE INDEX calls_active_route ON calls (subscriber_id, subject_code) WHERE ended_at IS NULL;
    CREATE INDEX calls_ended_at ON calls (ended_at) WHERE ended_at IS NOT NULL;
    "#,
    // 11 (agent desk, issue 12 item 5): the subscriber's wrap-up dispositions and since when
    // a wrap-up is required (the first list put; none before), the disposition and notes an
    // agent gave a call, and whether the agent takes calls.
    r#"
    CREATE TABLE dispositions (
        subscriber_id TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        position      INTEGER NOT NULL,
        code          TEXT NOT NULL,
        label         TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, code)
    ) STRICT, WITHOUT ROWID;
    ALTER TABLE subscribers ADD COLUMN wrap_up_since INTEGER;
    ALTER TABLE calls ADD COLUMN disposition TEXT;
    ALTER TABLE calls ADD COLUMN notes TEXT;
    ALTER TABLE calls ADD COLUMN wrapped_up_at INTEGER;
    ALTER TABLE agents ADD COLUMN presence TEXT NOT NULL DEFAULT 'available'
        CHECK (presence IN ('available', 'away'));
    "#,
];
