//! `heliogate audit list`: the audit log, filtered and paged, newest first.

use serde_json::Value;

use crate::helpers::TestApp;
use crate::oauth_helpers::{post_form, register};

heliogate_store::for_each_backend!(crate::helpers::on;
    audit_list_filters_by_user_client_event_and_time,
    audit_list_pages_with_a_cursor_and_refuses_bad_filters,
);

fn events(page: &Value) -> Vec<(String, String, String)> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or("-").to_owned();
            (text("event"), text("actor"), text("subject"))
        })
        .collect()
}

fn list(app: &TestApp, filters: &[&str]) -> Value {
    let mut args = vec!["audit", "list", "--json"];
    args.extend_from_slice(filters);
    app.run_process(&args).json()
}

async fn audit_list_filters_by_user_client_event_and_time(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (svc, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let server = app.serve(&[]).await;
    let issued = post_form(
        &server,
        "/oauth/token",
        Some((&svc, secret.as_deref().unwrap())),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(issued.status(), 200);
    let own = |event: &str, actor: &str, subject: &str| {
        (event.to_owned(), actor.to_owned(), subject.to_owned())
    };

    // Newest first; everything is there.
    let all = events(&list(&app, &[]));
    assert_eq!(all[0], own("token.issued", &svc, "-"));
    assert!(all.contains(&own("client.created", "cli", &svc)));
    assert!(all.contains(&own("user.created", "cli", "alice")));
    // By party, by event or family, and both at once.
    assert_eq!(
        events(&list(&app, &["--user", "alice"])),
        [own("user.created", "cli", "alice")]
    );
    assert_eq!(
        events(&list(&app, &["--client", &svc])),
        [
            own("token.issued", &svc, "-"),
            own("client.created", "cli", &svc)
        ]
    );
    assert_eq!(
        events(&list(&app, &["--client", &svc, "--event", "token.issued"])),
        [own("token.issued", &svc, "-")]
    );
    assert_eq!(
        events(&list(&app, &["--event", "user.*"])),
        [own("user.created", "cli", "alice")]
    );
    assert!(events(&list(&app, &["--user", "alice", "--client", &svc])).is_empty());
    // By time: an age, or an RFC 3339 time.
    assert_eq!(events(&list(&app, &["--since", "1h"])).len(), all.len());
    assert!(events(&list(&app, &["--since", "2999-01-01T00:00:00Z"])).is_empty());
    // The text form: one line per record.
    let text = app
        .run_process(&["audit", "list", "--client", &svc])
        .ok()
        .stdout
        .clone();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().next().unwrap().contains("token.issued"),
        "{text}"
    );
}

async fn audit_list_pages_with_a_cursor_and_refuses_bad_filters(app: TestApp) {
    for name in ["ann", "ben", "cid"] {
        app.add_user(name, &["reader"]).await;
    }
    let first = list(&app, &["--event", "user.created", "--limit", "2"]);
    assert_eq!(
        events(&first)
            .iter()
            .map(|e| e.2.as_str())
            .collect::<Vec<_>>(),
        ["cid", "ben"]
    );
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = list(
        &app,
        &[
            "--event",
            "user.created",
            "--limit",
            "2",
            "--cursor",
            &cursor,
        ],
    );
    assert_eq!(
        events(&second)
            .iter()
            .map(|e| e.2.as_str())
            .collect::<Vec<_>>(),
        ["ann"]
    );
    assert!(second["next_cursor"].is_null());
    assert!(app
        .run_process(&["audit", "list", "--limit", "2", "--event", "user.created"])
        .ok()
        .stdout
        .contains(&format!("--cursor {cursor}")));

    for (args, needle) in [
        (&["--event", "user%"][..], "an event is a name"),
        (&["--cursor", "abc"], "cursor"),
        (&["--limit", "0"], "limit"),
        (&["--limit", "1001"], "limit"),
        (&["--since", "yesterday"], "--since"),
        (&["--user", "no such name!"], ""),
    ] {
        let mut all = vec!["audit", "list"];
        all.extend_from_slice(args);
        app.run_process(&all).refused(needle);
    }
}
