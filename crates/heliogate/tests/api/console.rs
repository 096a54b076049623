//! The web console over HTTP, form by form as a browser posts them: users' own applications and
//! sessions, and the administrators' pages, with their refusals (no CSRF token, another's
//! client, a scope not held, no `admin`, a stale sign-in) changing nothing.

use heliogate_store::NewUser;
use serde_json::Value;

use crate::helpers::{form_value, location, Browser, Server, TestApp};
use crate::oauth_helpers::{
    code_tokens, json_error, post_form, signed_in, tokeninfo_status, CALLBACK, PASSWORD,
};

heliogate_store::for_each_backend!(crate::helpers::on;
    a_user_registers_an_application_within_their_scopes_and_deletes_it,
    a_user_ends_another_of_their_sessions,
    administrators_manage_users_roles_clients_and_read_the_audit_log,
    a_user_makes_a_personal_token_uses_it_and_revokes_it,
    an_application_has_no_more_than_its_owner_holds,
);

/// The text of `<p … id="ID">TEXT</p>` (or `<code id=…>`) in a page.
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

async fn page(browser: &Browser, path: &str) -> (u16, String) {
    let response = browser.get(path).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn submit(browser: &Browser, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let response = browser.post(path, form).await;
    let status = response.status().as_u16();
    let to = location(&response).to_owned();
    (status, to, response.text().await.unwrap())
}

async fn a_user_registers_an_application_within_their_scopes_and_deletes_it(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    app.add_user("bob", &["moderator"]).await;
    let server = app.serve(&[]).await;
    let alice = signed_in(&server, "alice").await;

    // The form offers the scopes alice holds, and only those.
    let (status, form) = page(&alice, "/account/clients/new").await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"scope\" value=\"read\""), "{form}");
    // The OpenID Connect scopes name claims, not powers: every application may ask for them.
    assert!(form.contains("name=\"scope\" value=\"openid\""), "{form}");
    assert!(!form.contains("value=\"write\""), "{form}");
    let csrf = form_value(&form, "csrf_token").unwrap();

    // Asking for a scope she does not hold, or posting without the form's token, registers
    // nothing.
    let before = app.snapshot().await;
    let beyond = [
        ("csrf_token", csrf.as_str()),
        ("name", "Notebook"),
        ("client_type", "confidential"),
        ("redirect_uris", CALLBACK),
        ("grant_type", "authorization_code"),
        ("scope", "read"),
        ("scope", "write"),
    ];
    let (status, _, html) = submit(&alice, "/account/clients", &beyond).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("you do not hold the scope &#34;write&#34;"),
        "{html}"
    );
    // The message is tied to the scopes' fieldset.
    assert!(
        html.contains("<fieldset aria-describedby=\"form-error\">"),
        "{html}"
    );
    let (status, _, _) = submit(&alice, "/account/clients", &beyond[1..]).await;
    assert_eq!(status, 403);
    assert_eq!(app.snapshot().await, before);

    let good = [
        ("csrf_token", csrf.as_str()),
        ("name", "Notebook"),
        ("client_type", "confidential"),
        ("redirect_uris", CALLBACK),
        ("grant_type", "authorization_code"),
        ("scope", "read"),
    ];
    let response = alice.post("/account/clients", &good).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let id = text_of(&html, "client-id");
    let secret = text_of(&html, "client-secret");
    let shown: Value = app.run(&["client", "show", &id, "--json"]).await.json();
    assert_eq!(shown["owner"], "alice");
    assert_eq!(shown["scopes"], serde_json::json!(["read"]));
    assert_eq!(shown["introspect"], false);

    // The application signs alice in and gets a token for what she holds.
    let issued: Value = code_tokens(&server, &alice, (&id, &secret), "scope=read", &[])
        .await
        .json()
        .await
        .unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(tokeninfo_status(&server, &token).await, 200);
    let (_, list) = page(&alice, "/account/clients").await;
    assert!(list.contains(&id) && list.contains("Notebook"), "{list}");

    // Bob cannot see, rotate or delete it.
    let bob = signed_in(&server, "bob").await;
    let (_, list) = page(&bob, "/account/clients").await;
    assert!(!list.contains(&id), "{list}");
    let bob_csrf = bob.csrf("/account/clients").await;
    for action in ["/account/clients/secret", "/account/clients/delete"] {
        let form = [
            ("csrf_token", bob_csrf.as_str()),
            ("client_id", id.as_str()),
        ];
        let (status, _, _) = submit(&bob, action, &form).await;
        assert_eq!(status, 404, "{action}");
    }
    assert_eq!(tokeninfo_status(&server, &token).await, 200);

    // A new secret: the old one stops working at once.
    let form = [("csrf_token", csrf.as_str()), ("client_id", id.as_str())];
    let (status, _, html) = submit(&alice, "/account/clients/secret", &form).await;
    assert_eq!(status, 200);
    let new_secret = text_of(&html, "client-secret");
    assert_ne!(new_secret, secret);
    // A node trusts what it read of a client for at most a second (as for tokens).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let probe = [("grant_type", "authorization_code"), ("code", "nothing")];
    let old = post_form(&server, "/oauth/token", Some((&id, &secret)), &probe).await;
    assert_eq!(json_error(old).await, (401, "invalid_client".into()));
    let new = post_form(&server, "/oauth/token", Some((&id, &new_secret)), &probe).await;
    assert_eq!(json_error(new).await, (400, "invalid_grant".into()));

    // Deleted: gone with its tokens, and recorded as alice's doing.
    let (status, to, _) = submit(&alice, "/account/clients/delete", &form).await;
    assert_eq!((status, to.as_str()), (303, "/account/clients?deleted=1"));
    assert_eq!(tokeninfo_status(&server, &token).await, 401);
    app.run(&["client", "show", &id]).await.refused("no client");
    let audit = app
        .run(&["audit", "list", "--user", "alice", "--json"])
        .await
        .json();
    let events: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "alice" && e["subject"] == id.as_str())
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "client.deleted",
            "client.secret_rotated",
            "consent.granted",
            "client.created"
        ]
    );
}

async fn a_user_ends_another_of_their_sessions(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    app.add_user("bob", &["reader"]).await;
    let server = app.serve(&[]).await;
    let laptop = signed_in(&server, "alice").await;
    let phone = signed_in(&server, "alice").await;
    let bob = signed_in(&server, "bob").await;

    let (status, html) = page(&laptop, "/account/sessions").await;
    assert_eq!(status, 200);
    let handles: Vec<String> = crate::helpers::hidden_fields(&html)
        .into_iter()
        .filter(|(name, _)| name == "session")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(handles.len(), 2, "{html}");
    assert_eq!(html.matches("this browser").count(), 1, "{html}");
    // The row that is not this browser's is the phone's.
    let phone_handle = html
        .split("<tr>")
        .filter(|row| row.contains("name=\"session\"") && !row.contains("this browser"))
        .find_map(|row| form_value(row, "session"))
        .unwrap();
    assert!(handles.contains(&phone_handle));
    let csrf = form_value(&html, "csrf_token").unwrap();

    // Bob cannot end alice's session; nor can a form without its token.
    let bob_csrf = bob.csrf("/account/sessions").await;
    let form = [
        ("csrf_token", bob_csrf.as_str()),
        ("session", &phone_handle),
    ];
    assert_eq!(submit(&bob, "/account/sessions/end", &form).await.0, 404);
    let form = [("session", phone_handle.as_str())];
    assert_eq!(submit(&laptop, "/account/sessions/end", &form).await.0, 403);
    let form = [("csrf_token", csrf.as_str()), ("session", "zz")];
    assert_eq!(submit(&laptop, "/account/sessions/end", &form).await.0, 404);
    assert_eq!(phone.get("/").await.status(), 200);

    let form = [("csrf_token", csrf.as_str()), ("session", &phone_handle)];
    let (status, to, _) = submit(&laptop, "/account/sessions/end", &form).await;
    assert_eq!((status, to.as_str()), (303, "/account/sessions?ended=1"));
    let signed_out = phone.get("/").await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(location(&signed_out), "/login?next=%2F");
    assert_eq!(laptop.get("/").await.status(), 200);
    let (_, html) = page(&laptop, "/account/sessions").await;
    assert_eq!(html.matches("name=\"session\"").count(), 1, "{html}");
}

/// Users made straight in the store, for paging: no password hashing, nobody signs in.
async fn many_users(app: &TestApp, count: usize) {
    let store = app.store().await;
    for i in 0..count {
        let user = NewUser {
            id: format!("bulk-{i}"),
            name: heliogate_core::UserName::parse(&format!("user{i:03}")).unwrap(),
            email: None,
            password_hash: "unusable".into(),
            roles: vec![heliogate_core::RoleName::parse("reader").unwrap()],
            must_change_password: false,
            now: 1_700_000_000,
        };
        let event = heliogate_store::AuditEvent {
            at: 1_700_000_000,
            event: "user.created".into(),
            actor: Some("test".into()),
            subject: Some(user.name.as_str().to_owned()),
            client_addr: None,
            detail: serde_json::json!({}),
        };
        store.create_user(&user, &event).await.unwrap();
    }
    store.close().await;
}

async fn administrators_manage_users_roles_clients_and_read_the_audit_log(app: TestApp) {
    app.add_user("root", &["administrator"]).await;
    app.add_user("alice", &["reader"]).await;
    many_users(&app, 55).await;
    let server = app.serve(&[]).await;
    let root = signed_in(&server, "root").await;

    // The start page, and users page by page (50 a page, by name).
    let (status, home) = page(&root, "/admin/").await;
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("Latest events"), "{home}");
    let (_, users) = page(&root, "/admin/users").await;
    let rows = |html: &str| html.matches("<td><a href=\"/admin/users/").count();
    assert_eq!(rows(&users), 50);
    let next = users
        .split("<a href=\"")
        .find_map(|part| part.strip_prefix("/admin/users?cursor="))
        .map(|rest| format!("/admin/users?cursor={}", &rest[..rest.find('"').unwrap()]))
        .expect("a next page");
    let (_, rest) = page(&root, &next).await;
    // 55 bulk users, alice and root: 57 in all.
    assert_eq!(rows(&rest), 7, "{rest}");
    let (_, found) = page(&root, "/admin/users?q=user05").await;
    assert_eq!(rows(&found), 5);

    // A new user with a one-time password, who signs in with it and must choose their own.
    let csrf = root.csrf("/admin/users/new").await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "bob"),
        ("email", "bob@example.org"),
        ("role", "reader"),
    ];
    let response = root.post("/admin/users", &form).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let password = text_of(&response.text().await.unwrap(), "one-time-password");
    let bob = Browser::new(&server);
    assert_eq!(bob.sign_in("bob", &password).await.status(), 303);
    let (_, account) = page(&bob, "/").await;
    assert!(account.contains("choose one of your own"), "{account}");
    assert_eq!(location(&bob.get("/account/clients").await), "/");
    // The same name again is refused on the form, with what was typed kept.
    let (status, _, html) = submit(&root, "/admin/users", &form).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("already exists") && html.contains("bob@example.org"),
        "{html}"
    );

    // Changing bob: roles, e-mail, disabled; a change based on a stale page is refused.
    let (_, bob_page) = page(&root, "/admin/users/bob").await;
    let read = form_value(&bob_page, "read_updated_at").unwrap();
    let change = [
        ("csrf_token", csrf.as_str()),
        ("read_updated_at", read.as_str()),
        ("email", "robert@example.org"),
        ("role", "moderator"),
        ("disabled", "1"),
    ];
    let (status, to, _) = submit(&root, "/admin/users/bob/change", &change).await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/admin/users/bob?done=changed")
    );
    let shown = app.run(&["user", "show", "bob", "--json"]).await.json();
    assert_eq!(shown["roles"], serde_json::json!(["moderator"]));
    assert_eq!(shown["email"], "robert@example.org");
    assert_eq!(shown["disabled"], true);
    let (status, _, html) = submit(&root, "/admin/users/bob/change", &change).await;
    assert_eq!(status, 409);
    assert!(html.contains("someone changed this user"), "{html}");

    // A short password is refused beside its field; a good one is set.
    let form = [("csrf_token", csrf.as_str()), ("password", "short")];
    let (status, _, html) = submit(&root, "/admin/users/bob/password", &form).await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"password-error\""), "{html}");
    let form = [("csrf_token", csrf.as_str()), ("password", PASSWORD)];
    assert_eq!(
        submit(&root, "/admin/users/bob/password", &form).await.0,
        303
    );

    // Roles: created, refused while held, deleted once nobody holds them.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "auditor"),
        ("scopes", "read audit"),
    ];
    let (status, to, _) = submit(&root, "/admin/roles", &form).await;
    assert_eq!((status, to.as_str()), (303, "/admin/roles?done=created"));
    let form = [("csrf_token", csrf.as_str())];
    let (status, _, html) = submit(&root, "/admin/roles/reader/delete", &form).await;
    assert_eq!(status, 400);
    assert!(html.contains("role=\"alert\""), "{html}");
    let role = async |name: &str| {
        let roles = app.run(&["role", "list", "--json"]).await.json();
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
    };
    assert!(role("reader").await.is_some());
    let change = [
        ("csrf_token", csrf.as_str()),
        ("read_scopes", "audit read"),
        ("read_mfa", "0"),
        ("scopes", "audit"),
    ];
    let (status, _, _) = submit(&root, "/admin/roles/auditor", &change).await;
    assert_eq!(status, 303);
    assert_eq!(
        role("auditor").await.unwrap()["scopes"],
        serde_json::json!(["audit"])
    );
    let (status, _, _) = submit(&root, "/admin/roles/auditor/delete", &form).await;
    assert_eq!(status, 303);
    assert!(role("auditor").await.is_none());

    // Clients: every one, with its owner.
    let alice = signed_in(&server, "alice").await;
    let alice_csrf = alice.csrf("/account/clients/new").await;
    let register = [
        ("csrf_token", alice_csrf.as_str()),
        ("name", "Alice's script"),
        ("client_type", "confidential"),
        ("grant_type", "client_credentials"),
        ("scope", "read"),
    ];
    let html = alice
        .post("/account/clients", &register)
        .await
        .text()
        .await
        .unwrap();
    let id = text_of(&html, "client-id");
    let (_, clients) = page(&root, "/admin/clients?owner=alice").await;
    assert!(
        clients.contains(&id) && clients.contains(">alice</a>"),
        "{clients}"
    );
    let form = [("csrf_token", csrf.as_str()), ("client_id", id.as_str())];
    let (status, to, _) = submit(&root, "/admin/clients/delete", &form).await;
    assert_eq!((status, to.as_str()), (303, "/admin/clients?deleted=1"));

    // Alice's personal token, seen and revoked by an administrator; a consent she never gave
    // cannot be withdrawn.
    let alice_csrf = alice.csrf("/account/tokens").await;
    let form = [
        ("csrf_token", alice_csrf.as_str()),
        ("name", "laptop script"),
        ("scope", "read"),
        ("days", "7"),
    ];
    let html = alice
        .post("/account/tokens", &form)
        .await
        .text()
        .await
        .unwrap();
    let pat = text_of(&html, "token-value");
    let (_, alice_page) = page(&root, "/admin/users/alice").await;
    let token_id = form_value(&alice_page, "token_id").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("token_id", token_id.as_str()),
    ];
    let (status, to, _) = submit(&root, "/admin/users/alice/tokens/revoke-one", &form).await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/admin/users/alice?done=token")
    );
    assert_eq!(tokeninfo_status(&server, &pat).await, 401);
    let form = [("csrf_token", csrf.as_str()), ("client_id", id.as_str())];
    let (status, _, _) = submit(&root, "/admin/users/alice/consents/revoke", &form).await;
    assert_eq!(status, 404);

    // An administrator registers a resource server for alice, then changes it.
    let register = [
        ("csrf_token", csrf.as_str()),
        ("name", "Predictions API"),
        ("client_type", "confidential"),
        ("owner", "alice"),
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        ("introspect", "1"),
    ];
    let (status, _, html) = submit(&root, "/admin/clients", &register).await;
    assert_eq!(status, 200);
    let api = text_of(&html, "client-id");
    let shown = app.run(&["client", "show", &api, "--json"]).await.json();
    assert_eq!(shown["owner"], "alice");
    assert_eq!(shown["introspect"], true);
    let (status, edit) = page(&root, &format!("/admin/clients/edit?id={api}")).await;
    assert_eq!(status, 200);
    let read = form_value(&edit, "read_updated_at").unwrap();
    let change = [
        ("csrf_token", csrf.as_str()),
        ("client_id", api.as_str()),
        ("read_updated_at", read.as_str()),
        ("name", "Predictions API v2"),
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        ("scope", "write"),
    ];
    let (status, to, _) = submit(&root, "/admin/clients/edit", &change).await;
    assert_eq!((status, to.as_str()), (303, "/admin/clients?changed=1"));
    let shown = app.run(&["client", "show", &api, "--json"]).await.json();
    assert_eq!(shown["name"], "Predictions API v2");
    assert_eq!(shown["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(shown["introspect"], false);
    // The same form again is stale; an unknown scope is refused beside its field.
    let (status, _, html) = submit(&root, "/admin/clients/edit", &change).await;
    assert_eq!(status, 400);
    assert!(html.contains("someone changed this client"), "{html}");
    let mut unknown = register.to_vec();
    unknown.push(("scope", "launch"));
    let (status, _, html) = submit(&root, "/admin/clients", &unknown).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("<fieldset aria-describedby=\"form-error\">"),
        "{html}"
    );

    // Scopes are described in words that the consent page shows.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("scope", "write"),
        ("description", "change your predictions"),
    ];
    let (status, to, _) = submit(&root, "/admin/scopes", &form).await;
    assert_eq!((status, to.as_str()), (303, "/admin/roles?done=described"));
    let (_, roles) = page(&root, "/admin/roles").await;
    assert!(
        roles.contains("value=\"change your predictions\""),
        "{roles}"
    );
    let (_, form_page) = page(&alice, "/account/clients/new").await;
    assert!(
        form_page.contains("read your data in the services"),
        "{form_page}"
    );
    let form = [
        ("csrf_token", csrf.as_str()),
        ("scope", "nonexistent"),
        ("description", "anything"),
    ];
    assert_eq!(submit(&root, "/admin/scopes", &form).await.0, 400);

    // The audit log, filtered.
    let (status, audit) = page(&root, "/admin/audit?user=bob&event=user.*").await;
    assert_eq!(status, 200);
    assert!(
        audit.contains("user.created") && audit.contains("user.disabled"),
        "{audit}"
    );
    assert!(!audit.contains("client.created"), "{audit}");
    let (status, audit) = page(&root, "/admin/audit?event=Not%20an%20event").await;
    assert_eq!(status, 400);
    assert!(audit.contains("id=\"filter-error\""), "{audit}");
    let (status, _) = page(&root, "/admin/audit?since=yesterday").await;
    assert_eq!(status, 400);

    // Deleted.
    let form = [("csrf_token", csrf.as_str())];
    let (status, to, _) = submit(&root, "/admin/users/bob/delete", &form).await;
    assert_eq!((status, to.as_str()), (303, "/admin/users?deleted=1"));
    app.run(&["user", "show", "bob"]).await.refused("no user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_needs_admin_and_a_fresh_sign_in() {
    let app = TestApp::new(crate::helpers::Backend::Sqlite).await;
    app.add_user("root", &["administrator"]).await;
    app.add_user("alice", &["moderator"]).await;
    let server: Server = app.serve(&[("HELIOGATE_ADMIN_REAUTH", "3")]).await;

    // Without `admin`: 403 on every page and form, and nothing changes.
    let alice = signed_in(&server, "alice").await;
    let csrf = alice.csrf("/account/sessions").await;
    for path in [
        "/admin/",
        "/admin/users",
        "/admin/roles",
        "/admin/clients",
        "/admin/audit",
    ] {
        let (status, html) = page(&alice, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("Not allowed"), "{html}");
    }
    let before = app.snapshot().await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "eve"),
        ("role", "administrator"),
    ];
    assert_eq!(submit(&alice, "/admin/users", &form).await.0, 403);
    assert_eq!(app.snapshot().await, before);
    // Strangers are sent to sign in.
    let stranger = Browser::new(&server);
    assert_eq!(
        location(&stranger.get("/admin/users").await),
        "/login?next=%2Fadmin%2Fusers"
    );

    // An administrator's sign-in goes stale: pages and forms ask for a new one first.
    let root = signed_in(&server, "root").await;
    let csrf = root.csrf("/admin/users/new").await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        location(&root.get("/admin/users?q=a").await),
        "/login?again=1&next=%2Fadmin%2Fusers%3Fq%3Da"
    );
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "eve"),
        ("role", "reader"),
    ];
    let (status, to, _) = submit(&root, "/admin/users", &form).await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/login?again=1&next=%2Fadmin%2F")
    );
    assert_eq!(app.snapshot().await, before);
    // Their own pages still open.
    assert_eq!(root.get("/account/sessions").await.status(), 200);
    let (status, login) = page(&root, "/login?again=1&next=%2Fadmin%2Fusers").await;
    assert_eq!(status, 200);
    assert!(login.contains("sign in again"), "{login}");

    let csrf = form_value(&login, "csrf_token").unwrap();
    let form = [
        ("username", "root"),
        ("password", PASSWORD),
        ("csrf_token", csrf.as_str()),
        ("next", "/admin/users"),
    ];
    let again = root.post("/login", &form).await;
    assert_eq!(location(&again), "/admin/users");
    assert_eq!(root.get("/admin/users").await.status(), 200);
}

async fn a_user_makes_a_personal_token_uses_it_and_revokes_it(app: TestApp) {
    app.add_user("alice", &["moderator"]).await;
    app.add_user("bob", &["reader"]).await;
    let server = app.serve(&[]).await;
    let alice = signed_in(&server, "alice").await;
    let csrf = alice.csrf("/account/tokens").await;
    let make = async |name: &str, scopes: &[&str], days: &str| {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("name", name),
            ("days", days),
        ];
        form.extend(scopes.iter().map(|s| ("scope", *s)));
        alice.post("/account/tokens", &form).await
    };

    // Refused: a scope she does not hold, no scope, a lifetime out of bounds, no form token.
    let before = app.run(&["audit", "list", "--json"]).await.json();
    for (scopes, days, says) in [
        (
            &["read", "admin"][..],
            "30",
            "you do not hold the scope &#34;admin&#34;",
        ),
        (&[][..], "30", "choose at least one scope"),
        (&["read"][..], "0", "a token lives 1 to 365 days"),
        (&["read"][..], "a year", "a token lives 1 to 365 days"),
    ] {
        let response = make("script", scopes, days).await;
        assert_eq!(response.status(), 400);
        let html = response.text().await.unwrap();
        assert!(html.contains(says), "{says}: {html}");
    }
    let form = [("name", "script"), ("scope", "read"), ("days", "30")];
    assert_eq!(alice.post("/account/tokens", &form).await.status(), 403);
    assert_eq!(app.run(&["audit", "list", "--json"]).await.json(), before);

    // Made: shown once, never cached, checked like any access token of hers.
    let response = make("nightly report", &["read"], "30").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let token = text_of(&html, "token-value");
    let info: Value = crate::oauth_helpers::tokeninfo(&server, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["scope"], serde_json::json!(["read"]));
    let alice_id = app.run(&["user", "show", "alice", "--json"]).await.json()["id"].clone();
    assert_eq!(info["sub"], alice_id);
    assert_eq!(info["client_id"], heliogate_store::PERSONAL_TOKENS_CLIENT);
    let (_, listed) = page(&alice, "/account/tokens").await;
    assert!(listed.contains("nightly report"), "{listed}");
    assert!(!listed.contains(&token), "the value is shown once only");
    assert!(!listed.contains(">never<"), "its use is shown: {listed}");

    // The client it is issued to cannot be used for anything else.
    let probe = [
        ("grant_type", "client_credentials"),
        ("client_id", heliogate_store::PERSONAL_TOKENS_CLIENT),
    ];
    let refused = post_form(&server, "/oauth/token", None, &probe).await;
    assert_eq!(json_error(refused).await, (401, "invalid_client".into()));

    // Bob cannot revoke it; alice can.
    let token_id = form_value(&listed, "token_id").unwrap();
    let bob = signed_in(&server, "bob").await;
    let bob_csrf = bob.csrf("/account/tokens").await;
    let form = [
        ("csrf_token", bob_csrf.as_str()),
        ("token_id", token_id.as_str()),
    ];
    assert_eq!(submit(&bob, "/account/tokens/revoke", &form).await.0, 404);
    assert_eq!(tokeninfo_status(&server, &token).await, 200);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("token_id", token_id.as_str()),
    ];
    let (status, to, _) = submit(&alice, "/account/tokens/revoke", &form).await;
    assert_eq!((status, to.as_str()), (303, "/account/tokens?revoked=1"));
    assert_eq!(tokeninfo_status(&server, &token).await, 401);

    // A token for `write` ends when her roles stop giving it.
    let html = make("deploy", &["write"], "7").await.text().await.unwrap();
    let write = text_of(&html, "token-value");
    assert_eq!(tokeninfo_status(&server, &write).await, 200);
    app.run(&["user", "set-roles", "alice", "reader"])
        .await
        .ok();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(tokeninfo_status(&server, &write).await, 401);
    let (_, listed) = page(&alice, "/account/tokens").await;
    assert!(
        listed.contains("You have no personal access token."),
        "{listed}"
    );
}

async fn an_application_has_no_more_than_its_owner_holds(app: TestApp) {
    app.add_user("alice", &["moderator"]).await;
    let server = app.serve(&[]).await;
    let alice = signed_in(&server, "alice").await;
    let csrf = alice.csrf("/account/clients/new").await;
    let register = [
        ("csrf_token", csrf.as_str()),
        ("name", "Alice's job"),
        ("client_type", "confidential"),
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        ("scope", "write"),
    ];
    let html = alice
        .post("/account/clients", &register)
        .await
        .text()
        .await
        .unwrap();
    let (id, secret) = (text_of(&html, "client-id"), text_of(&html, "client-secret"));
    let scope_of = async || {
        let form = [("grant_type", "client_credentials")];
        let issued: Value = post_form(&server, "/oauth/token", Some((&id, &secret)), &form)
            .await
            .json()
            .await
            .unwrap();
        issued["scope"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(scope_of().await, "read write");

    // Alice loses `write`: her application asks for it in vain from then on.
    app.run(&["user", "set-roles", "alice", "reader"])
        .await
        .ok();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(scope_of().await, "read");
    let form = [("grant_type", "client_credentials"), ("scope", "write")];
    let refused = post_form(&server, "/oauth/token", Some((&id, &secret)), &form).await;
    assert_eq!(json_error(refused).await, (400, "invalid_scope".into()));

    // Disabled, she holds nothing: neither does it.
    app.run(&["user", "disable", "alice"]).await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let form = [("grant_type", "client_credentials")];
    let refused = post_form(&server, "/oauth/token", Some((&id, &secret)), &form).await;
    assert_eq!(refused.status(), 400);
}
