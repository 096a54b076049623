//! The administration API (`/api/v1/`) and its OpenAPI document, with a real HTTP client.

use serde_json::Value;

use crate::helpers::{event_names, Browser, TestApp};
use crate::oauth_helpers::{
    alice_tokens, client_token, get_json, get_text, http, post_form, register, signed_in, CALLBACK,
    PASSWORD,
};

heliogate_store::for_each_backend!(crate::helpers::on;
    rfc_6750_the_api_takes_a_bearer_token_with_the_admin_scope_only,
    the_audit_log_is_listed_filtered_and_paged,
    rfc_9457_refusals_are_problem_details_naming_the_field,
    the_openapi_document_describes_the_api,
    roles_are_created_read_changed_only_as_read_and_deleted,
    users_are_paged_created_changed_and_deleted_under_the_cli_s_rules,
    clients_show_their_secret_once_rotate_it_and_lose_their_tokens,
    a_user_s_consents_are_listed_and_revoked_with_their_tokens,
    an_email_is_set_changed_and_cleared,
    a_client_is_changed_only_as_read_and_under_the_rules_of_registration,
    a_user_s_and_a_client_s_tokens_are_listed_without_values_and_revoked_one_by_one,
    schemathesis_finds_no_failure_in_any_operation,
);

/// An admin client's token, on a running server.
async fn admin(app: &TestApp) -> (crate::helpers::Server, String) {
    let (server, token, _) = admin_client(app).await;
    (server, token)
}

/// `admin`, and the client's id.
async fn admin_client(app: &TestApp) -> (crate::helpers::Server, String, String) {
    let (id, secret) = register(
        app,
        &["--grant-type", "client_credentials", "--scope", "admin"],
    )
    .await;
    let server = app.serve(&[]).await;
    let token = client_token(&server, (&id, secret.as_deref().unwrap())).await;
    (server, token, id)
}

async fn get(
    server: &crate::helpers::Server,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = http().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn problem(response: reqwest::Response, status: u16) -> (Value, Option<String>) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"].as_str().unwrap().starts_with("https://"),
        "{body}"
    );
    (body, challenge)
}

async fn rfc_6750_the_api_takes_a_bearer_token_with_the_admin_scope_only(app: TestApp) {
    app.add_user("alice", &["administrator"]).await;
    let (reader, reader_secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read"],
    )
    .await;
    let (server, admin_token, admin_id) = admin_client(&app).await;
    let path = "/api/v1/audit-events";

    let (body, challenge) = problem(get(&server, path, None).await, 401).await;
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"heliogate\""));
    assert!(body["type"].as_str().unwrap().ends_with("#unauthorized"));
    let (body, challenge) = problem(get(&server, path, Some("not-a-token")).await, 401).await;
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"heliogate\", error=\"invalid_token\"")
    );
    assert!(body["type"].as_str().unwrap().ends_with("#invalid_token"));
    let reader_token = client_token(&server, (&reader, reader_secret.as_deref().unwrap())).await;
    let (_, challenge) = problem(get(&server, path, Some(&reader_token)).await, 403).await;
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"heliogate\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    // An administrator's browser session is not a way in: no cookie is read.
    let browser = Browser::new(&server);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    assert_eq!(browser.get(path).await.status(), 401);
    // A revoked token stops working (within the check cache's second).
    assert_eq!(get(&server, path, Some(&admin_token)).await.status(), 200);
    app.run(&["token", "revoke", "--client", &admin_id])
        .await
        .ok();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    problem(get(&server, path, Some(&admin_token)).await, 401).await;
}

async fn the_audit_log_is_listed_filtered_and_paged(app: TestApp) {
    for name in ["ann", "ben", "cid"] {
        app.add_user(name, &["reader"]).await;
    }
    let (server, token) = admin(&app).await;
    let page: Value = get(
        &server,
        "/api/v1/audit-events?event=user.created&limit=2",
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    let subjects = |page: &Value| {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["subject"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(subjects(&page), ["cid", "ben"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = get(
        &server,
        &format!("/api/v1/audit-events?event=user.created&limit=2&cursor={cursor}"),
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(subjects(&next), ["ann"]);
    assert!(next["next_cursor"].is_null());
    // The API's own token issuance is in the log, by the client.
    let issued: Value = get(&server, "/api/v1/audit-events?event=token.*", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(issued["events"][0]["event"], "token.issued");
    assert!(issued["events"][0]["at"].is_i64());
}

async fn rfc_9457_refusals_are_problem_details_naming_the_field(app: TestApp) {
    let (server, token) = admin(&app).await;
    // With the refused parameter named where the parser names it.
    for (query, field) in [
        ("bogus=1", Some("bogus")),
        ("limit=many", Some("limit")),
        ("since=yesterday", Some("since")),
        ("limit=0", None),
        ("event=x%25", None),
        ("cursor=abc", None),
    ] {
        let path = format!("/api/v1/audit-events?{query}");
        let (body, _) = problem(get(&server, &path, Some(&token)).await, 400).await;
        assert!(
            body["type"].as_str().unwrap().ends_with("#invalid_request"),
            "{body}"
        );
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        }
    }
}

async fn the_openapi_document_describes_the_api(app: TestApp) {
    let server = app.serve(&[]).await;
    let doc: Value = get_json(&server, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let list = &doc["paths"]["/api/v1/audit-events"]["get"];
    assert_eq!(list["operationId"], "list_audit_events");
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["user", "client", "event", "since", "cursor", "limit"]
    );
    assert!(list["responses"]["403"]["content"]["application/problem+json"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
    assert!(doc["components"]["schemas"]["AuditPage"].is_object());
}

async fn send(
    server: &crate::helpers::Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = http().request(method, server.url(path)).bearer_auth(token);
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn roles_are_created_read_changed_only_as_read_and_deleted(app: TestApp) {
    let (server, token) = admin(&app).await;
    use reqwest::Method;
    use serde_json::json;

    // Created: 201 with its location and ETag; a second time, 409.
    let created = send(
        &server,
        Method::POST,
        "/api/v1/roles",
        &token,
        None,
        Some(json!({"name": "forecaster", "scopes": ["read", "predict"]})),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/api/v1/roles/forecaster");
    let tag = created.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        body,
        json!({"name": "forecaster", "scopes": ["predict", "read"], "mfa_required": false})
    );
    let again = send(
        &server,
        Method::POST,
        "/api/v1/roles",
        &token,
        None,
        Some(json!({"name": "forecaster", "scopes": ["read"]})),
    )
    .await;
    problem(again, 409).await;
    // Listed and read, with the same ETag.
    let listed: Value = get(&server, "/api/v1/roles", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 5);
    let read = get(&server, "/api/v1/roles/forecaster", Some(&token)).await;
    assert_eq!(read.headers()["etag"].to_str().unwrap(), tag);
    problem(
        get(&server, "/api/v1/roles/nobody", Some(&token)).await,
        404,
    )
    .await;

    // Changed only with If-Match of what was read: none 428, a stale one 412.
    let change = || Some(json!({"scopes": ["read"]}));
    let path = "/api/v1/roles/forecaster";
    problem(
        send(&server, Method::PATCH, path, &token, None, change()).await,
        428,
    )
    .await;
    let changed = send(&server, Method::PATCH, path, &token, Some(&tag), change()).await;
    assert_eq!(changed.status(), 200);
    let new_tag = changed.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    // The other administrator, still holding the first ETag, overwrites nothing.
    let stale = send(
        &server,
        Method::PATCH,
        path,
        &token,
        Some(&tag),
        Some(json!({"scopes": ["write"]})),
    )
    .await;
    problem(stale, 412).await;
    let now: Value = get(&server, path, Some(&token)).await.json().await.unwrap();
    assert_eq!(now["scopes"], json!(["read"]));
    // The same rules as the CLI, and an audit record naming the acting client.
    let (body, _) = problem(
        send(
            &server,
            Method::PATCH,
            "/api/v1/roles/administrator",
            &token,
            Some("*"),
            Some(json!({"scopes": ["read"]})),
        )
        .await,
        409,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("administrator"),
        "{body}"
    );
    let log: Value = get(&server, "/api/v1/audit-events?event=role.*", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["events"][0]["event"], "role.scopes_changed");
    assert_eq!(log["events"][0]["subject"], "forecaster");
    assert_ne!(log["events"][0]["actor"], "cli");

    // A second factor required of the role's users, then a user's factors reset.
    let required = send(
        &server,
        Method::PATCH,
        path,
        &token,
        Some(&new_tag),
        Some(json!({"mfa_required": true})),
    )
    .await;
    assert_eq!(required.status(), 200);
    let required: Value = required.json().await.unwrap();
    assert_eq!(
        (&required["mfa_required"], &required["scopes"]),
        (&json!(true), &json!(["read"]))
    );
    app.add_user("ada", &["forecaster"]).await;
    let shown = app.run(&["user", "show", "ada", "--json"]).await.json();
    assert_eq!(shown["mfa"]["required"], true);
    let reset = send(
        &server,
        Method::DELETE,
        "/api/v1/users/ada/mfa",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(reset.status(), 204);
    let gone = send(
        &server,
        Method::DELETE,
        "/api/v1/users/ada",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(gone.status(), 204);
    problem(
        send(
            &server,
            Method::DELETE,
            "/api/v1/users/nobody/mfa",
            &token,
            None,
            None,
        )
        .await,
        404,
    )
    .await;

    // Bodies: unknown fields, wrong types and no JSON at all are refused, naming the field.
    for (body, field) in [
        (
            json!({"name": "x", "scopes": ["read"], "admin": true}),
            "admin",
        ),
        (json!({"name": "x", "scopes": "read"}), "scopes"),
    ] {
        let (problem_body, _) = problem(
            send(
                &server,
                Method::POST,
                "/api/v1/roles",
                &token,
                None,
                Some(body),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(problem_body["errors"][0]["field"], field, "{problem_body}");
    }
    let not_json = http()
        .post(server.url("/api/v1/roles"))
        .bearer_auth(&token)
        .body("name=x")
        .send()
        .await
        .unwrap();
    problem(not_json, 415).await;
    let (body, _) = problem(
        send(
            &server,
            Method::POST,
            "/api/v1/roles",
            &token,
            None,
            Some(json!({"name": "Bad Name!", "scopes": ["read"]})),
        )
        .await,
        400,
    )
    .await;
    assert!(body["type"].as_str().unwrap().ends_with("#invalid_request"));

    // Deleted while nobody holds it; a held one is refused.
    app.add_user("rita", &["reader"]).await;
    problem(
        send(
            &server,
            Method::DELETE,
            "/api/v1/roles/reader",
            &token,
            None,
            None,
        )
        .await,
        409,
    )
    .await;
    let deleted = send(&server, Method::DELETE, path, &token, None, None).await;
    assert_eq!(deleted.status(), 204);
    problem(get(&server, path, Some(&token)).await, 404).await;
}

/// The Python that has openapi-spec-validator, Schemathesis and prometheus-client.
pub(crate) fn validator_python() -> String {
    heliogate_store::testing::required_tool(
        "HELIOGATE_API_TOOLS_PYTHON",
        "a Python with crates/heliogate/tests/api-tools/requirements.txt",
    )
}

/// The document served passes openapi-spec-validator (PyPI), the OpenAPI 3.1 schema checker.
#[tokio::test]
async fn openapi_spec_validator_accepts_the_document() {
    let python = validator_python();
    let app = TestApp::new(crate::helpers::Backend::Sqlite).await;
    let server = app.serve(&[]).await;
    let doc = get_text(&server, "/openapi.json").await;
    let path = app.path("openapi.json");
    std::fs::write(&path, doc).unwrap();
    let out = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn users_are_paged_created_changed_and_deleted_under_the_cli_s_rules(app: TestApp) {
    use reqwest::Method;
    use serde_json::json;
    for name in ["ann", "anna", "bob"] {
        app.add_user(name, &["reader"]).await;
    }
    app.add_user("root", &["administrator"]).await;
    let (server, token) = admin(&app).await;

    // Pages by name, filtered by prefix.
    let page: Value = get(&server, "/api/v1/users?prefix=an&limit=1", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["users"][0]["name"], "ann");
    assert_eq!(page["users"][0]["scopes"], json!(["read"]));
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = get(
        &server,
        &format!("/api/v1/users?prefix=an&limit=1&cursor={cursor}"),
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(next["users"][0]["name"], "anna");
    assert!(next["next_cursor"].is_null());

    // Created under the password rules; the password never comes back.
    let weak = send(
        &server,
        Method::POST,
        "/api/v1/users",
        &token,
        None,
        Some(json!({"name": "carl", "roles": ["reader"], "password": "short"})),
    )
    .await;
    problem(weak, 400).await;
    let created = send(&server, Method::POST, "/api/v1/users", &token, None,
        Some(json!({"name": "carl", "roles": ["writer"], "email": "carl@example.org", "password": PASSWORD}))).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/api/v1/users/carl");
    let tag = created.headers()["etag"].to_str().unwrap().to_owned();
    let body = created.text().await.unwrap();
    assert!(
        !body.contains(PASSWORD) && !body.contains("argon2"),
        "{body}"
    );
    problem(
        send(
            &server,
            Method::POST,
            "/api/v1/users",
            &token,
            None,
            Some(json!({"name": "carl", "roles": ["writer"], "password": PASSWORD})),
        )
        .await,
        409,
    )
    .await;
    // Carl can sign in.
    let browser = Browser::new(&server);
    assert_eq!(browser.sign_in("carl", PASSWORD).await.status(), 303);

    // Changed only as read; disabling ends the sign-in.
    let path = "/api/v1/users/carl";
    let change = json!({"roles": ["reader", "writer"], "disabled": true});
    problem(
        send(
            &server,
            Method::PATCH,
            path,
            &token,
            None,
            Some(change.clone()),
        )
        .await,
        428,
    )
    .await;
    let changed = send(
        &server,
        Method::PATCH,
        path,
        &token,
        Some(&tag),
        Some(change.clone()),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let user: Value = changed.json().await.unwrap();
    assert_eq!(
        (user["roles"].clone(), user["disabled"].clone()),
        (json!(["reader", "writer"]), json!(true))
    );
    problem(
        send(
            &server,
            Method::PATCH,
            path,
            &token,
            Some(&tag),
            Some(change),
        )
        .await,
        412,
    )
    .await;
    assert_eq!(
        browser.get("/").await.status(),
        303,
        "the session of a disabled user ends"
    );
    // The last administrator stays one.
    let admin_user = get(&server, "/api/v1/users/root", Some(&token)).await;
    let admin_tag = admin_user.headers()["etag"].to_str().unwrap().to_owned();
    problem(
        send(
            &server,
            Method::PATCH,
            "/api/v1/users/root",
            &token,
            Some(&admin_tag),
            Some(json!({"roles": ["reader"]})),
        )
        .await,
        409,
    )
    .await;

    // A password set by an administrator: 204, nothing in the answer.
    let set = send(
        &server,
        Method::PUT,
        "/api/v1/users/bob/password",
        &token,
        None,
        Some(json!({"password": "another good long password"})),
    )
    .await;
    assert_eq!(set.status(), 204);
    assert!(set.text().await.unwrap().is_empty());
    let bob = Browser::new(&server);
    assert_eq!(
        bob.sign_in("bob", "another good long password")
            .await
            .status(),
        303
    );

    // Deleted; then gone. The audit log names the API's client as the actor.
    assert_eq!(
        send(&server, Method::DELETE, path, &token, None, None)
            .await
            .status(),
        204
    );
    problem(get(&server, path, Some(&token)).await, 404).await;
    let log: Value = get(&server, "/api/v1/audit-events?user=carl", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let events = event_names(&log);
    assert_eq!(events[0], "user.deleted");
    assert!(events.contains(&"user.created"));
    assert!(log["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] != "cli"));
}

async fn clients_show_their_secret_once_rotate_it_and_lose_their_tokens(app: TestApp) {
    use reqwest::Method;
    use serde_json::json;
    let (server, token) = admin(&app).await;

    let made = send(&server, Method::POST, "/api/v1/clients", &token, None,
        Some(json!({"name": "Nightly job", "grant_types": ["client_credentials"], "scopes": ["read"]}))).await;
    assert_eq!(made.status(), 201);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let made: Value = made.json().await.unwrap();
    let id = made["client_id"].as_str().unwrap().to_owned();
    let first = made["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(made["grant_types"], json!(["client_credentials"]));
    // Shown once: reading the client again shows no secret.
    let shown = get(&server, &format!("/api/v1/clients/{id}"), Some(&token))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !shown.contains(&first) && !shown.contains("client_secret"),
        "{shown}"
    );
    let listed: Value = get(&server, "/api/v1/clients", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["client_id"] == id.as_str()));
    let service_token = client_token(&server, (&id, &first)).await;

    // Rotation: a new secret once; the old one stops working.
    let rotated = send(
        &server,
        Method::POST,
        &format!("/api/v1/clients/{id}/secret"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let second = rotated.json::<Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first);
    let refused = post_form(
        &server,
        "/oauth/token",
        Some((&id, &first)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(refused.status(), 401);
    client_token(&server, (&id, &second)).await;

    // Its tokens end at once on this node.
    let revoked: Value = send(
        &server,
        Method::DELETE,
        &format!("/api/v1/clients/{id}/tokens"),
        &token,
        None,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(revoked["revoked"], 2);
    let info = http()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(&service_token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);

    // A public client has no secret; the CLI's rules refuse a public client-credentials one.
    let public: Value = send(&server, Method::POST, "/api/v1/clients", &token, None,
        Some(json!({"name": "Notebook", "public": true, "redirect_uris": ["http://127.0.0.1/callback"], "scopes": ["read"]})))
        .await.json().await.unwrap();
    assert!(public["client_secret"].is_null());
    problem(
        send(
            &server,
            Method::POST,
            "/api/v1/clients",
            &token,
            None,
            Some(json!({"name": "x", "public": true, "grant_types": ["client_credentials"]})),
        )
        .await,
        400,
    )
    .await;
    problem(
        send(
            &server,
            Method::POST,
            "/api/v1/clients",
            &token,
            None,
            Some(json!({"name": "x", "secret": "mine"})),
        )
        .await,
        400,
    )
    .await;

    // Deleted, then gone; a user's tokens are revoked the same way.
    assert_eq!(
        send(
            &server,
            Method::DELETE,
            &format!("/api/v1/clients/{id}"),
            &token,
            None,
            None
        )
        .await
        .status(),
        204
    );
    problem(
        get(&server, &format!("/api/v1/clients/{id}"), Some(&token)).await,
        404,
    )
    .await;
    problem(
        send(
            &server,
            Method::DELETE,
            "/api/v1/users/nobody/tokens",
            &token,
            None,
            None,
        )
        .await,
        404,
    )
    .await;
}

async fn a_user_s_consents_are_listed_and_revoked_with_their_tokens(app: TestApp) {
    use reqwest::Method;
    let (server, token) = admin(&app).await;
    let (web, tokens) = alice_tokens(&app, &server).await;
    let access = tokens["access_token"].as_str().unwrap();

    let consents: Value = get(&server, "/api/v1/users/alice/consents", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(consents[0]["client_id"], web.as_str());
    assert_eq!(consents[0]["scopes"], serde_json::json!(["read"]));
    let path = format!("/api/v1/users/alice/consents/{web}");
    assert_eq!(
        send(&server, Method::DELETE, &path, &token, None, None)
            .await
            .status(),
        204
    );
    let info = http()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401, "the consent's tokens end with it");
    problem(
        send(&server, Method::DELETE, &path, &token, None, None).await,
        404,
    )
    .await;
    let empty: Value = get(&server, "/api/v1/users/alice/consents", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty, serde_json::json!([]));
    problem(
        get(&server, "/api/v1/users/nobody/consents", Some(&token)).await,
        404,
    )
    .await;
}

async fn an_email_is_set_changed_and_cleared(app: TestApp) {
    use reqwest::Method;
    use serde_json::json;
    app.add_user("dora", &["reader"]).await;
    let (server, token) = admin(&app).await;
    let path = "/api/v1/users/dora";
    let mut tag = get(&server, path, Some(&token)).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    for (email, expected) in [
        (json!("dora@example.org"), json!("dora@example.org")),
        (json!(null), json!(null)),
    ] {
        let changed = send(
            &server,
            Method::PATCH,
            path,
            &token,
            Some(&tag),
            Some(json!({ "email": email })),
        )
        .await;
        assert_eq!(changed.status(), 200);
        tag = changed.headers()["etag"].to_str().unwrap().to_owned();
        let user: Value = changed.json().await.unwrap();
        assert_eq!(user["email"], expected);
        assert_eq!(
            user["roles"],
            json!(["reader"]),
            "an absent field is left as it was"
        );
    }
    problem(
        send(
            &server,
            Method::PATCH,
            path,
            &token,
            Some(&tag),
            Some(json!({"email": "not an address"})),
        )
        .await,
        400,
    )
    .await;
    let log: Value = get(
        &server,
        "/api/v1/audit-events?event=user.email_changed",
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(log["events"].as_array().unwrap().len(), 2);
}

async fn a_client_is_changed_only_as_read_and_under_the_rules_of_registration(app: TestApp) {
    use reqwest::Method;
    use serde_json::json;
    app.add_user("alice", &["reader"]).await;
    let (web, web_secret) = register(&app, &["--redirect-uri", CALLBACK, "--scope", "read"]).await;
    let (server, token) = admin(&app).await;
    let path = format!("/api/v1/clients/{web}");
    let read = get(&server, &path, Some(&token)).await;
    let tag = read.headers()["etag"].to_str().unwrap().to_owned();

    // Without If-Match, 428; a new redirect URI and scope with it.
    let change = json!({"redirect_uris": ["https://app.example/cb"], "scopes": ["read", "write"], "name": "App"});
    problem(
        send(
            &server,
            Method::PATCH,
            &path,
            &token,
            None,
            Some(change.clone()),
        )
        .await,
        428,
    )
    .await;
    let changed = send(
        &server,
        Method::PATCH,
        &path,
        &token,
        Some(&tag),
        Some(change.clone()),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let new_tag = changed.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["redirect_uris"], json!(["https://app.example/cb"]));
    assert_eq!(changed["scopes"], json!(["read", "write"]));
    assert_eq!(changed["name"], "App");
    assert_eq!(
        changed["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );

    // A second administrator who read before the change overwrites nothing, even within the
    // same second.
    problem(
        send(
            &server,
            Method::PATCH,
            &path,
            &token,
            Some(&tag),
            Some(json!({"name": "Mine"})),
        )
        .await,
        412,
    )
    .await;
    // The rules of registration hold: an unknown scope, a grant that needs what is not there,
    // an unknown field, a public client's setting on a confidential one's kind.
    for (body, field) in [
        (json!({"scopes": ["nope"]}), None),
        (json!({"redirect_uris": []}), None),
        (json!({"redirect_uris": ["http://evil.example/cb"]}), None),
        (json!({"grant_types": ["password"]}), None),
        (json!({"public": true}), Some("public")),
        (json!({"name": 5}), Some("name")),
    ] {
        let (problem, _) = problem(
            send(
                &server,
                Method::PATCH,
                &path,
                &token,
                Some(&new_tag),
                Some(body.clone()),
            )
            .await,
            400,
        )
        .await;
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{body}");
        }
    }
    let unchanged = get(&server, &path, Some(&token)).await;
    assert_eq!(unchanged.headers()["etag"].to_str().unwrap(), new_tag);

    // The change is in force at once: the old redirect URI is refused, the new one taken.
    let browser = signed_in(&server, "alice").await;
    let old = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={web}&redirect_uri={CALLBACK}&scope=read&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
        ))
        .await;
    assert_eq!(
        old.status(),
        400,
        "the old redirect URI is no longer registered"
    );
    let _ = web_secret;
    problem(
        send(
            &server,
            Method::PATCH,
            "/api/v1/clients/nope",
            &token,
            Some("*"),
            Some(json!({})),
        )
        .await,
        404,
    )
    .await;
}

async fn a_user_s_and_a_client_s_tokens_are_listed_without_values_and_revoked_one_by_one(
    app: TestApp,
) {
    use reqwest::Method;
    use serde_json::json;
    let (server, token) = admin(&app).await;
    let (web, issued) = alice_tokens(&app, &server).await;
    let access = issued["access_token"].as_str().unwrap();
    let refresh = issued["refresh_token"].as_str().unwrap();

    let listed = get(&server, "/api/v1/users/alice/tokens", Some(&token))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(access) && !listed.contains(refresh),
        "{listed}"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let tokens = listed["tokens"].as_array().unwrap();
    let kinds: Vec<&str> = tokens.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"access_token") && kinds.contains(&"refresh_token"));
    for t in tokens {
        assert_eq!(t["client_id"], web.as_str());
        assert_eq!(t["user"], "alice");
        assert_eq!(t["scopes"], json!(["read"]));
        assert!(t["expires_at"].as_i64().unwrap() > t["issued_at"].as_i64().unwrap());
    }
    assert!(listed["next_cursor"].is_null());
    // A page at a time.
    let first: Value = get(&server, "/api/v1/users/alice/tokens?limit=1", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = get(
        &server,
        &format!("/api/v1/users/alice/tokens?limit=1&cursor={cursor}"),
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        [&first["tokens"][0], &second["tokens"][0]],
        [&tokens[0], &tokens[1]]
    );
    assert!(second["next_cursor"].is_null());
    // The client sees the same tokens.
    let by_client: Value = get(
        &server,
        &format!("/api/v1/clients/{web}/tokens"),
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_client["tokens"], listed["tokens"]);

    // Revoking the refresh token ends the grant: its access token with it.
    let refresh_id = tokens
        .iter()
        .find(|t| t["kind"] == "refresh_token")
        .unwrap()["token_id"]
        .as_str()
        .unwrap();
    // Another user's or client's path does not reach it.
    app.add_user("bob", &["reader"]).await;
    problem(
        send(
            &server,
            Method::DELETE,
            &format!("/api/v1/users/bob/tokens/{refresh_id}"),
            &token,
            None,
            None,
        )
        .await,
        404,
    )
    .await;
    let path = format!("/api/v1/clients/{web}/tokens/{refresh_id}");
    assert_eq!(
        send(&server, Method::DELETE, &path, &token, None, None)
            .await
            .status(),
        204
    );
    let info = http()
        .get(server.url("/oauth/tokeninfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
    let after: Value = get(&server, "/api/v1/users/alice/tokens", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["tokens"], json!([]));
    for bad in ["not-a-token-id", "AAAA"] {
        problem(
            send(
                &server,
                Method::DELETE,
                &format!("/api/v1/users/alice/tokens/{bad}"),
                &token,
                None,
                None,
            )
            .await,
            404,
        )
        .await;
    }
    for query in ["limit=0", "cursor=%21", "other=1"] {
        problem(
            get(
                &server,
                &format!("/api/v1/users/alice/tokens?{query}"),
                Some(&token),
            )
            .await,
            400,
        )
        .await;
    }
    problem(
        get(&server, "/api/v1/clients/nope/tokens", Some(&token)).await,
        404,
    )
    .await;
}

/// Schemathesis (PyPI) tests every operation against a running heliogate with an admin token:
/// examples from the document's schemas, its edge cases, random fuzzing, and sequences that
/// follow the document's links (create, then read, change with the ETag read, delete).
async fn schemathesis_finds_no_failure_in_any_operation(app: TestApp) {
    let python = validator_python();
    app.add_user("root", &["administrator"]).await;
    let (id, secret) = register(
        &app,
        &["--grant-type", "client_credentials", "--scope", "admin"],
    )
    .await;
    let server = app.serve(&[]).await;
    let token = client_token(&server, (&id, secret.as_deref().unwrap())).await;
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api-tools");
    // The server is a process of its own: waiting here blocks nothing it needs.
    let out = std::process::Command::new(python)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(server.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "100", "--seed", "1"])
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", tools)
        .env("HELIOGATE_PROTECTED_CLIENT", &id)
        .env("NO_COLOR", "1")
        .current_dir(app.path(""))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation in the document was tested, and sequences followed its links.
    let doc: Value = get(&server, "/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "{operations} operations: {report}"
    );
    assert!(report.contains("Scenarios:"), "{report}");
}
