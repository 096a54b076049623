//! Fresh databases for tests: a temporary SQLite file, or a new PostgreSQL database made on the
//! server that `HELIOGATE_TEST_POSTGRES_URL` names and dropped afterwards. Each test gets its
//! own, so tests run in parallel and never see each other's data.
//!
//! A test that needs more than Rust — PostgreSQL, a browser, a Python or npm tool — is left out
//! of nextest's default profile by its filter (`.config/nextest.toml`): `cargo nextest run`
//! lists it as skipped, never as passed, and `--profile all` runs it, where a missing server or
//! tool fails it with a message naming what to set or install. `for_each_backend!` makes the variants of a test, in this crate's
//! conformance suite and in the binary's integration tests alike.
#![allow(clippy::expect_used, clippy::panic)] // test support: a broken fixture must stop the test

use std::sync::Arc;

use rand::Rng;
use sqlx::Connection;

use crate::{ConnectOptions, Store};

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for the life of this value.
pub struct TestDatabase {
    url: String,
    /// For PostgreSQL: the server URL and the database name, to drop it.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// Runs each named `async fn` once per backend, as `sqlite::NAME` and `postgres::NAME`:
/// `for_each_backend!(run; a, b)` calls `run(Backend::Sqlite, super::a)`, where `run` makes what
/// the tests take (a store, a running server) and hands it to the test.
#[macro_export]
macro_rules! for_each_backend {
    ($run:path; $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $run($crate::testing::Backend::Sqlite, super::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $run($crate::testing::Backend::Postgres, super::$test).await;
                }
            )*
        }
    };
}

/// The PostgreSQL server for tests, from `HELIOGATE_TEST_POSTGRES_URL`; a PostgreSQL test run
/// without it fails here.
pub fn postgres_server() -> String {
    match std::env::var("HELIOGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "this test needs PostgreSQL: set HELIOGATE_TEST_POSTGRES_URL, for example \
             postgres://postgres@127.0.0.1:5432/test"
        ),
    }
}

/// The value of the variable `name`, which names a tool a test needs; a test run without it
/// fails here, saying how to get the tool.
pub fn required_tool(name: &str, how: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("this test needs {name}: {how}"),
    }
}

/// `url` with its database path replaced by `/name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// Hands `test` a migrated store on a fresh database of `backend` and closes it after: the
/// `run` of `for_each_backend!` for tests that need nothing but a store.
pub async fn with_store(backend: Backend, test: impl AsyncFnOnce(Arc<dyn Store>)) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    test(Arc::clone(&store)).await;
    store.close().await;
}

impl TestDatabase {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("heliogate.db").display());
        Self {
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let server = postgres_server();
        let name = format!("heliogate_test_{:016x}", rand::thread_rng().r#gen::<u64>());
        let mut conn = sqlx::PgConnection::connect(&server)
            .await
            .expect("connect to HELIOGATE_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let _ = conn.close().await;
        Self {
            url: with_database(&server, &name),
            postgres: Some((server, name)),
            _dir: None,
        }
    }

    /// The URL heliogate is given for this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many rows `table` holds now, read directly (what no store method counts: a test's
    /// check that a request wrote nothing).
    pub async fn rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        if self.postgres.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            let count = sqlx::query_scalar(&sql).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            count.expect("count the rows")
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("open the test database");
            let count = sqlx::query_scalar(&sql).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            count.expect("count the rows")
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = crate::connect(&self.url, &ConnectOptions::default())
            .await
            .expect("open the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any runtime we may block: give the clean-up its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
