//! `heliogate serve`: bootstrap, health, readiness, shutdown, and PostgreSQL outages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heliogate_app::password_hashing;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

use crate::helpers::{location, user_name, Backend, Browser, Server, TestApp};

heliogate_store::for_each_backend!(crate::helpers::on;
    the_first_start_creates_the_admin_once,
    the_printed_password_is_replaced_at_the_first_sign_in,
    health_answers_and_sigterm_stops_cleanly,
    a_schema_newer_than_the_binary_is_refused,
);

/// The first administrator's password, as a server whose standard error is no terminal hands
/// it over: in a file of the working directory that only its owner may read.
fn printed_password(app: &TestApp) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = app.dir.path().join("heliogate-admin-password");
    let text = std::fs::read_to_string(&path).ok()?;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    Some(text.trim().to_owned()).filter(|p| !p.is_empty())
}

async fn the_first_start_creates_the_admin_once(app: TestApp) {
    let mut command = app.command();
    command.env("HELIOGATE_LOG_FORMAT", "json");
    let mut server = Server::start(command, app.dir.path()).await;
    let first = server.stderr();
    let password =
        printed_password(&app).unwrap_or_else(|| panic!("no password handed over: {first}"));
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
    // Never in the log, which stays JSON lines only; the log says where the password is.
    let first = server.stderr();
    assert!(!first.contains(&password), "{first}");
    for line in first.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
    assert!(first.contains("heliogate-admin-password"), "{first}");
    std::fs::remove_file(app.dir.path().join("heliogate-admin-password")).unwrap();

    let store = app.store().await;
    let admin = store
        .user_by_name(&user_name("admin"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.roles, ["administrator"]);
    let hash = store
        .credentials(&user_name("admin"))
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(password_hashing::verify(&hash, &password));

    // The same installation, restarted: same issuer, another port.
    let mut command = app.command();
    command.env("HELIOGATE_ISSUER", &server.base);
    let mut again = Server::start(command, app.dir.path()).await;
    again.signal("TERM");
    assert_eq!(again.wait_exit(Duration::from_secs(10)).await, Some(0));
    assert!(printed_password(&app).is_none(), "{}", again.stderr());
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert_eq!(
        store
            .credentials(&user_name("admin"))
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash
    );
}

async fn health_answers_and_sigterm_stops_cleanly(app: TestApp) {
    let mut server = Server::start(app.command(), app.dir.path()).await;
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        reqwest::get(server.url("/no-such-page"))
            .await
            .unwrap()
            .status(),
        404
    );
    // Requests are logged.
    assert!(server.stderr().contains("/readyz"), "{}", server.stderr());
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
    assert!(server.stderr().contains("heliogate stopped"));
}

async fn a_schema_newer_than_the_binary_is_refused(app: TestApp) {
    app.run_process(&["migrate"]).ok();
    let insert =
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES (99999, 'from the future', TRUE, X'00', 0)";
    match app.backend {
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(app.db.url()).await.unwrap();
            sqlx::query(insert).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(app.db.url()).await.unwrap();
            sqlx::query(&insert.replace("X'00'", "'\\x00'::bytea"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    app.run_process(&["migrate"])
        .refused("newer than this heliogate knows");
    app.run_process(&["user", "list"])
        .refused("newer than this heliogate knows");
    let serve = app.run_process(&["serve"]);
    assert_ne!(serve.code, 0);
    assert!(
        serve.stderr.contains("newer than this heliogate knows"),
        "{}",
        serve.stderr
    );
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, to take the database
/// away from one server without touching the shared PostgreSQL.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (open2, links2) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().await.push(task.abort_handle());
            }
        });
        Proxy { port, open, links }
    }

    /// Drops every connection and refuses new ones.
    async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

async fn wait_for_status(server: &Server, path: &str, want: u16, within: Duration) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    loop {
        let asked = Instant::now();
        let status = client
            .get(server.url(path))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        // Every answer comes fast, whatever the database does.
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            asked.elapsed()
        );
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} did not answer {want} within {within:?} (last {status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_postgres_through_an_outage() {
    let app = TestApp::new(Backend::Postgres).await;
    let url = url::Url::parse(app.db.url()).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    let mut via_proxy = url.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port)).unwrap();

    let mut command = app.command();
    command.env("HELIOGATE_DATABASE_URL", via_proxy.as_str());
    let mut server = Server::start(command, app.dir.path()).await;
    wait_for_status(&server, "/readyz", 200, Duration::from_secs(5)).await;

    proxy.cut().await;
    wait_for_status(&server, "/readyz", 503, Duration::from_secs(15)).await;
    let body: serde_json::Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "unavailable");
    // Liveness does not depend on the database: the process is fine.
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );

    proxy.restore();
    wait_for_status(&server, "/readyz", 200, Duration::from_secs(15)).await;
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_fast_while_postgres_is_away_and_recover() {
    let app = TestApp::new(Backend::Postgres).await;
    let (id, secret) = crate::oauth_helpers::register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let secret = secret.unwrap();
    let url = url::Url::parse(app.db.url()).unwrap();
    let proxy = Proxy::start(format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432)
    ))
    .await;
    let mut via_proxy = url.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    let mut command = app.command();
    command.env("HELIOGATE_DATABASE_URL", via_proxy.as_str());
    let mut server = Server::start(command, app.dir.path()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let token = || {
        client
            .post(server.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(token().await.unwrap().status(), 200);

    proxy.cut().await;
    for _ in 0..3 {
        let asked = Instant::now();
        let out = token().await.unwrap();
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "took {:?}",
            asked.elapsed()
        );
        assert_eq!(out.status(), 503);
        assert_eq!(out.headers()["retry-after"], "1");
        let body: serde_json::Value = out.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        let check = client
            .get(server.url("/oauth/tokeninfo"))
            .bearer_auth("not-in-any-cache")
            .send()
            .await
            .unwrap();
        assert_eq!(check.status(), 503);
    }
    assert_eq!(
        client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while token().await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
}

/// The first administrator's password was handed over: whoever signs in with it is
/// sent to choose their own before anything else, whatever they asked for.
async fn the_printed_password_is_replaced_at_the_first_sign_in(app: TestApp) {
    let server = Server::start(app.command(), app.dir.path()).await;
    let printed = printed_password(&app).unwrap();
    let browser = Browser::new(&server);
    let signed_in = browser
        .sign_in_to("admin", &printed, "/account?tab=apps")
        .await;
    assert_eq!(
        (signed_in.status().as_u16(), location(&signed_in)),
        (303, "/")
    );
    let page = browser.get("/").await.text().await.unwrap();
    assert!(page.contains("choose one of your own"), "{page}");
    let authorize = browser
        .get("/oauth/authorize?response_type=code&client_id=x")
        .await;
    assert_eq!(
        (authorize.status().as_u16(), location(&authorize)),
        (303, "/")
    );
    let csrf = browser.csrf("/").await;
    let changed = browser
        .post(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current", &printed),
                ("new", "a password of my own"),
                ("confirm", "a password of my own"),
            ],
        )
        .await;
    assert_eq!(changed.status(), 303);
    let page = browser.get("/").await.text().await.unwrap();
    assert!(!page.contains("choose one of your own"), "{page}");
    let again = Browser::new(&server)
        .sign_in_to("admin", "a password of my own", "/?x=1")
        .await;
    assert_eq!((again.status().as_u16(), location(&again)), (303, "/?x=1"));
}
