//! Floods that must cost heliogate a bounded amount: a thousand sign-ins at once.

use crate::helpers::{Backend, Browser, TestApp};

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
    let browser = Browser::new(&server);
    let csrf = browser.csrf("/login").await;
    let attempts: Vec<_> = (0..1000)
        .map(|i| {
            let client = browser.client.clone();
            let url = server.url("/login");
            let form = [
                ("username".to_owned(), format!("user{i}")),
                ("password".to_owned(), "not the password".to_owned()),
                ("csrf_token".to_owned(), csrf.clone()),
                ("next".to_owned(), "/".to_owned()),
            ];
            tokio::spawn(async move { client.post(url).form(&form).send().await })
        })
        .collect();
    let mut answers = std::collections::BTreeMap::new();
    for attempt in attempts {
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
    let browser = Browser::new(&server);
    let csrf = browser.csrf("/login").await;
    let guesses: Vec<_> = (0..200)
        .map(|i| {
            let client = browser.client.clone();
            let url = server.url("/login");
            let form = [
                ("username".to_owned(), "alice".to_owned()),
                ("password".to_owned(), format!("guess number {i}")),
                ("csrf_token".to_owned(), csrf.clone()),
                ("next".to_owned(), "/".to_owned()),
            ];
            tokio::spawn(async move { client.post(url).form(&form).send().await })
        })
        .collect();
    let mut answers = std::collections::BTreeMap::new();
    for guess in guesses {
        let status = guess.await.unwrap().unwrap().status().as_u16();
        *answers.entry(status).or_insert(0) += 1;
    }
    let checked = app
        .store()
        .await
        .recent_events(1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event == "login.failed")
        .count();
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
