-- What each scope lets an application do, in words for the person asked to consent (and for
-- the console's forms); administrators edit them. A scope without one is described by its name.
CREATE TABLE scope_descriptions (
    scope       TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO scope_descriptions (scope, description, updated_at) VALUES
    ('read', 'read your data in the services (predictions, configurations, results)', EXTRACT(EPOCH FROM now())::BIGINT),
    ('write', 'add and change data in the services on your behalf', EXTRACT(EPOCH FROM now())::BIGINT),
    ('execute', 'run and stop workflows and containers on your behalf', EXTRACT(EPOCH FROM now())::BIGINT),
    ('admin', 'administer this server: users, roles and applications', EXTRACT(EPOCH FROM now())::BIGINT),
    ('openid', 'confirm who you are', EXTRACT(EPOCH FROM now())::BIGINT),
    ('profile', 'see your user name', EXTRACT(EPOCH FROM now())::BIGINT),
    ('email', 'see your e-mail address', EXTRACT(EPOCH FROM now())::BIGINT),
    ('roles', 'see your roles', EXTRACT(EPOCH FROM now())::BIGINT),
    ('offline_access', 'keep access while you are not signed in', EXTRACT(EPOCH FROM now())::BIGINT)
ON CONFLICT (scope) DO NOTHING;
