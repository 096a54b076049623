"""Seeds a heliogate SQLite database for the flat-with-data benchmark.

    python3 bench/seed.py DB CLIENT_ID USERS LIVE_TOKENS EXPIRED_TOKENS

Users get a fixed (unusable) Argon2id PHC string and the reader role; tokens are stored as
heliogate stores them: under their key, a public id that grows with time (6 bytes of
milliseconds, 10 random bytes) followed by the SHA-256 of a token nobody holds.
"""
import hashlib
import os
import sqlite3
import sys
import time
import uuid


def main():
    db, client_id = sys.argv[1], sys.argv[2]
    users, live, expired = (int(n) for n in sys.argv[3:6])
    now = int(time.time())
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    phc = "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVk$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    with conn:
        ids = [str(uuid.uuid4()) for _ in range(users)]
        conn.executemany(
            "INSERT INTO users (id, name, email, password_hash, disabled, created_at, updated_at) "
            "VALUES (?, ?, NULL, ?, 0, ?, ?)",
            ((ids[i], f"user{i}", phc, now, now) for i in range(users)),
        )
        conn.executemany("INSERT INTO user_roles (user_id, role) VALUES (?, 'reader')", ((i,) for i in ids))

    def tokens(count, prefix, issued_from, expires_at):
        # Spread over a day from `issued_from`, in issue order, as the server writes them.
        step_ms = 86400 * 1000 // max(count, 1)
        for i in range(count):
            user = ids[i % users] if users and i % 2 else None
            token_id = (issued_from * 1000 + i * step_ms).to_bytes(6, "big") + os.urandom(10)
            key = token_id + hashlib.sha256(f"{prefix}-{i}".encode()).digest()
            yield (key, client_id, user, "read", issued_from, expires_at)

    # The expired tokens were issued the day before the live ones.
    for count, prefix, issued_from, expires in (
        (expired, "expired", now - 2 * 86400, now - 10),
        (live, "live", now - 86400, now + 30 * 86400),
    ):
        with conn:
            conn.executemany(
                "INSERT INTO access_tokens (token_hash, client_id, user_id, scope, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                tokens(count, prefix, issued_from, expires),
            )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


if __name__ == "__main__":
    main()
