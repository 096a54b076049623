"""A large source for `heliogate import flask-oauthlib`, in the original design's layout
(Flask-SQLAlchemy's default tables), written with the standard library only:

    python3 bench/flask_source.py PATH [USERS] [CLIENTS] [TOKENS]

Users have md5(password + name) hashes; a tenth of the tokens have expired.
"""
import hashlib
import sqlite3
import sys
from datetime import datetime, timedelta

path = sys.argv[1]
given = [int(a) for a in sys.argv[2:5]]
users, clients, tokens = given + [100000, 5000, 1000000][len(given):]
db = sqlite3.connect(path)
db.executescript('''
DROP TABLE IF EXISTS token; DROP TABLE IF EXISTS client; DROP TABLE IF EXISTS user;
CREATE TABLE user (id INTEGER PRIMARY KEY, name VARCHAR(40) UNIQUE NOT NULL,
                   password_hash VARCHAR(32) NOT NULL, active BOOLEAN);
CREATE TABLE client (client_id VARCHAR(40) PRIMARY KEY, client_secret VARCHAR(55) NOT NULL,
                     user_id INTEGER REFERENCES user (id), is_confidential BOOLEAN,
                     _redirect_uris TEXT, _default_scopes TEXT);
CREATE TABLE token (id INTEGER PRIMARY KEY, client_id VARCHAR(40) NOT NULL REFERENCES client,
                    user_id INTEGER REFERENCES user (id), token_type VARCHAR(40),
                    access_token VARCHAR(255) UNIQUE, refresh_token VARCHAR(255) UNIQUE,
                    expires DATETIME, _scopes TEXT);
''')
db.executemany('INSERT INTO user VALUES (?, ?, ?, 1)', (
    (i, f'user{i}', hashlib.md5(f'password {i}user{i}'.encode()).hexdigest()) for i in range(1, users + 1)))
db.executemany('INSERT INTO client VALUES (?, ?, ?, 1, ?, ?)', (
    (f'client-{i:05d}', f'secret-{i:05d}-0123456789', 1 + i % users,
     f'https://app{i}.example.org/cb' if i % 2 else '', 'read write') for i in range(clients)))
now = datetime.utcnow()
db.executemany('INSERT INTO token VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)', (
    (f'client-{i % clients:05d}', 1 + i % users, 'Bearer', f'access-{i:09d}-abcdefghijklmnopqrst',
     None, (now + timedelta(hours=20 if i % 10 else -1)).isoformat(' '), 'read')
    for i in range(tokens)))
db.commit()
