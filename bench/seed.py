"""Seeds a heliogate SQLite database for the benchmark.

    python3 bench/seed.py DB CLIENT_ID USERS LIVE_TOKENS EXPIRED_TOKENS
    python3 bench/seed.py codes DB CLIENT_ID USER_NAME REDIRECT_URI VERIFIER COUNT > CODES
    python3 bench/seed.py devices DB CLIENT_ID USER_NAME COUNT > DEVICE_CODES

The first form fills the database for the flat-with-data scenario. The second stores COUNT
authorization codes for `openid profile`, as the authorization endpoint stores them (the SHA-256
of the code, the S256 challenge of VERIFIER, a nonce, a sign-in session) but valid for ten
minutes, and prints the codes, one per line, for the code-exchange scenario. The third stores
COUNT device authorizations (RFC 8628) approved by USER_NAME for `read`, as `/device` leaves them,
and prints their device codes, one per line, for the device-code scenario.

Users get a fixed (unusable) Argon2id PHC string and the reader role; tokens are stored as
heliogate stores them: under their key, a public id that grows with time (6 bytes of
milliseconds, 10 random bytes) followed by the SHA-256 of a token nobody holds.
"""
import base64
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


def codes():
    db, client_id, user_name, redirect_uri, verifier, count = sys.argv[2:8]
    now = int(time.time())
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    conn = sqlite3.connect(db)
    (user_id,) = conn.execute("SELECT id FROM users WHERE name = ?", (user_name,)).fetchone()
    values = [base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in range(int(count))]
    with conn:
        conn.executemany(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_given, "
            "scope, code_challenge, nonce, auth_time, created_at, expires_at, sid) "
            "VALUES (?, ?, ?, ?, 1, 'openid profile', ?, 'bench-nonce', ?, ?, ?, 'bench-session')",
            ((hashlib.sha256(v.encode()).digest(), client_id, user_id, redirect_uri, challenge, now, now, now + 600)
             for v in values),
        )
    conn.close()
    print("\n".join(values))


def devices():
    """Approved device authorizations (RFC 8628), as /device leaves them, one per device code."""
    db, client_id, user_name, count = sys.argv[2:6]
    now = int(time.time())
    conn = sqlite3.connect(db)
    (user_id,) = conn.execute("SELECT id FROM users WHERE name = ?", (user_name,)).fetchone()
    values = [base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in range(int(count))]
    with conn:
        conn.executemany(
            "INSERT INTO device_authorizations (device_code_hash, user_code_hash, client_id, scope, "
            "status, user_id, auth_time, sid, amr, poll_interval, created_at, expires_at) "
            "VALUES (?, ?, ?, 'read', 'approved', ?, ?, 'bench-session', 'pwd', 5, ?, ?)",
            ((hashlib.sha256(v.encode()).digest(), os.urandom(32), client_id, user_id, now, now, now + 600)
             for v in values),
        )
    conn.close()
    print("\n".join(values))


if __name__ == "__main__":
    {"codes": codes, "devices": devices}.get(sys.argv[1], main)()
