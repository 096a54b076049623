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
    let app = TestApp::new(Backend::Sqlite, module_path!()).await.unwrap();
    app.add_user("alice", &["reader"]);
    let server = app
        .serve(&[
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
    let peak = peak_rss_mib(server.child.id());
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
    app.add_user("alice", &["reader"]);
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
    let app = TestApp::new(Backend::Sqlite, module_path!()).await.unwrap();
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
