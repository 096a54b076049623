-- The keys that sign ID tokens (and JWT access tokens), shared by every node. A key is made
-- per algorithm, generation 1 on the first start; a rotation adds the next generation, which
-- signs from signs_from on, while the older ones stay published until retired_at.
-- It replaces the first schema's placeholder table, which nothing ever wrote.
DROP TABLE signing_keys;
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    private_key BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    signs_from  INTEGER NOT NULL,
    retired_at  INTEGER,
    UNIQUE (alg, generation)
) STRICT;
