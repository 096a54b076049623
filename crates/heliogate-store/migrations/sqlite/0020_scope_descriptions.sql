-- What each scope lets an application do, in words for the person asked to consent (and for
-- the console's forms); administrators edit them. A scope without one is described by its name.
CREATE TABLE scope_descriptions (
    scope       TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
INSERT INTO scope_descriptions (scope, description, updated_at) VALUES
    ('read', 'read your data in the services (predictions, configurations, results)', unixepoch()),
    ('write', 'add and change data in the services on your behalf', unixepoch()),
    ('execute', 'run and stop workflows and containers on your behalf', unixepoch()),
    ('admin', 'administer this server: users, roles and applications', unixepoch()),
    ('openid', 'confirm who you are', unixepoch()),
    ('profile', 'see your user name', unixepoch()),
    ('email', 'see your e-mail address', unixepoch()),
    ('roles', 'see your roles', unixepoch()),
    ('offline_access', 'keep access while you are not signed in', unixepoch())
ON CONFLICT (scope) DO NOTHING;
