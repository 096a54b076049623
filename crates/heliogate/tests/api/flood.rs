//! Floods that must cost heliogate a bounded amount: a thousand sign-ins at once.

use std::collections::BTreeMap;

use crate::helpers::{Backend, Browser, Server, TestApp};

/// The server's peak resident memory, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

/// Sends every `(user, password)` sign-in at once, with one browser's CSRF token, and counts
/// the answers by status. Each must be an answer, not a dropped connection; a 503 must say
/// when to come back.
async fn sign_in_at_once(
    server: &Server,
    attempts: impl Iterator<Item = (String, String)>,
) -> BTreeMap<u16, usize> {
    let browser = Browser::new(server);
    let csrf = browser.csrf("/login").await;
    let sent: Vec<_> = attempts
        .map(|(user, password)| {
            let client = browser.client.clone();
            let url = server.url("/login");
            let form = [
                ("username", user),
                ("password", password),
                ("csrf_token", csrf.clone()),
                ("next", "/".to_owned()),
            ];
            tokio::spawn(async move { client.post(url).form(&form).send().await })
        })
        .collect();
    let mut answers = BTreeMap::new();
    for attempt in sent {
        let response = attempt
            .await
            .unwrap()
            .expect("an answer, not a dropped connection");
        let status = response.status().as_u16();
        if status == 503 {
            assert!(response.headers().contains_key("retry-after"));
        }
        *answers.entry(status).or_insert(0) += 1;
    }
    answers
}

/// Each Argon2 run takes 19 MiB: unbounded, a thousand at once would ask for ~19 GiB. Bounded,
/// the server stays small, and every request gets an answer: 401 for a wrong password, 503
/// (with Retry-After) for one that found no free turn — never a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_parallel_sign_ins_keep_memory_bounded_and_all_get_an_answer() {
    let app = TestApp::new(Backend::Sqlite).await;
    app.add_user("alice", &["reader"]).await;
    let mut server = app
        .serve_process(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES", "1000"),
            ("HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
        ])
        .await;
    let wrong = (0..1000).map(|i| (format!("user{i}"), "not the password".to_owned()));
    let answers = sign_in_at_once(&server, wrong).await;
    assert!(
        answers.keys().all(|s| matches!(s, 401 | 429 | 503)),
        "{answers:?}"
    );
    let peak = peak_rss_mib(server.pid());
    eprintln!("peak RSS {peak} MiB; answers {answers:?}");
    assert!(peak < 150, "peak RSS {peak} MiB; answers {answers:?}");
    // The server is still there for the right password.
    assert_eq!(
        Browser::new(&server)
            .sign_in("alice", crate::constants::PASSWORD)
            .await
            .status(),
        303
    );
}

heliogate_store::for_each_backend!(crate::helpers::on;
    parallel_guesses_check_no_more_passwords_than_the_lock_allows,
);

/// The attempt is counted before the password is checked, atomically with the lock check: of
/// 200 guesses at one account sent at once, at most `login_max_failures` are checked.
async fn parallel_guesses_check_no_more_passwords_than_the_lock_allows(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let server = app
        .serve(&[
            ("HELIOGATE_LOGIN_MAX_FAILURES", "5"),
            ("HELIOGATE_LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
        ])
        .await;
    let guesses = (0..200).map(|i| ("alice".to_owned(), format!("guess number {i}")));
    let answers = sign_in_at_once(&server, guesses).await;
    let events = app.store().await.recent_events(1000).await.unwrap();
    let checked = events.iter().filter(|e| e.event == "login.failed").count();
    // Refused while locked, an attempt writes nothing: the lock was recorded with the failure
    // that set it.
    let sign_in_records = events
        .iter()
        .filter(|e| e.event.starts_with("login."))
        .count();
    assert_eq!(sign_in_records, checked, "{answers:?}");
    assert!(events
        .iter()
        .any(|e| e.event == "login.failed" && e.detail.get("locked_seconds").is_some()));
    eprintln!("{checked} passwords checked; answers {answers:?}");
    assert!(
        checked <= 5,
        "{checked} passwords checked; answers {answers:?}"
    );
    assert!(
        answers.keys().all(|s| matches!(s, 401 | 429 | 503)),
        "{answers:?}"
    );
}

/// A name can be as long as the body allows; what a refused attempt writes cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_user_name_writes_a_bounded_record() {
    let app = TestApp::new(Backend::Sqlite).await;
    let server = app.serve(&[]).await;
    let huge = "x".repeat(30_000);
    let answers = sign_in_at_once(&server, std::iter::once((huge, "a password".to_owned()))).await;
    assert_eq!(answers.keys().collect::<Vec<_>>(), [&401]);
    let events = app.store().await.recent_events(10).await.unwrap();
    let failed = events.iter().find(|e| e.event == "login.failed").unwrap();
    let recorded = failed.actor.as_deref().unwrap();
    assert!(
        recorded.chars().count() <= 65,
        "{} characters",
        recorded.len()
    );
}

/// The descriptors a process holds open.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Slow-loris: 300 connections that send half a request line, against a server allowed 256
/// descriptors. `/healthz` still answers while they are held (a newcomer takes the place of
/// the connection that has waited longest with no request in progress), and the server closes
/// each of them once its headers are overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_starve_the_health_check_and_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::new(Backend::Sqlite).await;
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(crate::helpers::binary())
        .current_dir(app.dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("HELIOGATE_") {
            command.env_remove(key);
        }
    }
    command
        .env("HELIOGATE_DATABASE_URL", app.db.url())
        .env("HELIOGATE_HEADER_TIMEOUT", "3");
    let mut server = Server::start(command, app.dir.path()).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let pid = server.pid();

    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(b"GET /healthz HT").await.unwrap();
        slow.push(stream);
    }
    for _ in 0..5 {
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            reqwest::get(server.url("/healthz")),
        )
        .await
        .expect("/healthz answers while slow clients wait")
        .unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert!(open_descriptors(pid) <= 256);

    // Every slow connection is closed by the server: end of stream (or a reset), never a
    // connection left hanging.
    let mut closed = 0;
    for mut stream in slow {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    // A refusal or a timeout's answer may come before the end.
                    Ok(_) => continue,
                }
            }
        })
        .await;
        if read.is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, 300);
    let answer = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(answer.status(), 200);
}

/// Slow-read: a client that asks for answers and does not take them holds its connection no
/// longer than the header timeout. The server's writes stall at once behind the client's small
/// receive window; past the timeout the connection is closed with answers still unsent, rather
/// than held until the client reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_take_its_answers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ASKED: usize = 2_000;
    let app = TestApp::new(Backend::Sqlite).await;
    let server = app.serve(&[("HELIOGATE_HEADER_TIMEOUT", "1")]).await;
    let address = server.base.trim_start_matches("http://").parse().unwrap();
    let request = b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: heliogate\r\n\r\n";
    let answer = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // Far more than the sockets' buffers hold: the server has to wait for the client.
    assert!(ASKED * answer.len() > 2 << 20);

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let (mut reader, mut writer) = socket.connect(address).await.unwrap().into_split();
    let asking = tokio::spawn(async move {
        for _ in 0..ASKED {
            if writer.write_all(request).await.is_err() {
                break;
            }
        }
        writer
    });
    // Longer than the timeout and the sweep's tenth of it, reading nothing.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.read_to_end(&mut received),
    )
    .await
    .expect("the connection ends");
    let answered = received
        .windows(b"HTTP/1.1 200".len())
        .filter(|w| *w == b"HTTP/1.1 200")
        .count();
    // Cut short (a reset, or an end before the last answer), not served in full once read.
    assert!(
        read.is_err() || answered < ASKED,
        "{answered} of {ASKED} answers taken after the timeout"
    );
    drop(asking.await);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}
