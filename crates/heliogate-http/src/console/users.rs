//! `/admin/users`: finding, creating, changing and deleting users; their sessions, consents
//! and tokens.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::account::sessions;
use heliogate_app::admin::{
    self, Changed, ConsentView, RoleView, TokenQuery, TokenView, UserChange, UserQuery, UserView,
};
use heliogate_app::AppError;

use super::own_sessions::{rows, SessionRow};
use super::{failed, field_of, next_link, query_value, when, Chrome, ConsoleAdmin, Fields};
use crate::pages::{page, CsrfForm};
use crate::AppState;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    instance: String,
    chrome: Chrome,
    q: String,
    users: Vec<UserView>,
    next: Option<String>,
    deleted: bool,
}

pub(super) async fn list(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Response {
    let q = query_value(query.as_deref(), "q");
    let found = admin::page_users(
        &*state.store,
        UserQuery {
            prefix: q.clone(),
            cursor: query_value(query.as_deref(), "cursor"),
            limit: Some(50),
        },
    )
    .await;
    match found {
        Ok(found) => page(
            StatusCode::OK,
            UsersPage {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                next: found
                    .next_cursor
                    .map(|c| next_link("/admin/users", &[("q", q.as_deref())], &c)),
                q: q.unwrap_or_default(),
                users: found.users,
                deleted: query_value(query.as_deref(), "deleted").is_some(),
            }
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

/// The form for a new user, as first shown or sent back with what was wrong.
#[derive(Template)]
#[template(path = "user_form.html")]
struct UserForm {
    instance: String,
    chrome: Chrome,
    roles: Vec<RoleView>,
    name: String,
    email: String,
    chosen: Vec<String>,
    error: Option<String>,
    error_field: Option<&'static str>,
}

impl UserForm {
    fn chose(&self, role: &str) -> bool {
        self.chosen.iter().any(|r| r == role)
    }

    fn error_on(&self, field: &str) -> bool {
        self.error.is_some() && self.error_field == Some(field)
    }
}

pub(super) async fn form(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
) -> Response {
    match admin::list_roles(&*state.store).await {
        Ok(roles) => page(
            StatusCode::OK,
            UserForm {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                roles,
                name: String::new(),
                email: String::new(),
                chosen: Vec::new(),
                error: None,
                error_field: None,
            }
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

/// The new user's one-time password, shown once.
#[derive(Template)]
#[template(path = "user_created.html")]
struct UserCreated {
    instance: String,
    chrome: Chrome,
    user: UserView,
    password: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let name = fields.get("name").trim().to_owned();
    let email = Some(fields.get("email").trim().to_owned()).filter(|e| !e.is_empty());
    let chosen = fields.all("role");
    let created = admin::add_user_with_one_time_password(
        &*state.store,
        &admin.actor,
        &name,
        email.clone(),
        chosen.clone(),
    )
    .await;
    match created {
        Ok((user, password)) => page(
            StatusCode::OK,
            UserCreated {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                user,
                password,
            }
            .render(),
        ),
        Err(AppError::Invalid(message) | AppError::Conflict(message)) => {
            let roles = match admin::list_roles(&*state.store).await {
                Ok(roles) => roles,
                Err(e) => return failed(&state, e),
            };
            let error_field = field_of(
                &message,
                &[("email", "email"), ("roles", "role"), ("name", "name")],
            )
            .or(Some("name"));
            page(
                StatusCode::BAD_REQUEST,
                UserForm {
                    instance: admin.chrome.instance.clone(),
                    chrome: admin.chrome,
                    roles,
                    name,
                    email: email.unwrap_or_default(),
                    chosen,
                    error: Some(message),
                    error_field,
                }
                .render(),
            )
        }
        Err(e) => failed(&state, e),
    }
}

/// One user, with everything an administrator can do to them.
#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    instance: String,
    chrome: Chrome,
    user: UserView,
    roles: Vec<RoleView>,
    sessions: Vec<SessionRow>,
    consents: Vec<ConsentView>,
    tokens: Vec<TokenView>,
    more_tokens: bool,
    created: String,
    notice: Option<&'static str>,
    /// A refusal, and the form it is about: `change` or `password`.
    error: Option<(&'static str, String)>,
}

impl UserPage {
    fn has_role(&self, role: &str) -> bool {
        self.user.roles.iter().any(|r| r == role)
    }

    fn error_for(&self, form: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(about, _)| *about == form)
            .map(|(_, message)| message.as_str())
    }

    fn expires(&self, token: &TokenView) -> String {
        when(token.expires_at)
    }
}

async fn render_user(
    state: &AppState,
    admin: super::Member,
    name: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<(&'static str, String)>,
) -> Response {
    let store = &*state.store;
    let read = async {
        let user = admin::show_user(store, name).await?;
        let roles = admin::list_roles(store).await?;
        let sessions = sessions::sessions_of(store, name).await?;
        let consents = admin::list_consents(store, name).await?;
        let tokens = admin::list_user_tokens(
            store,
            name,
            TokenQuery {
                limit: Some(20),
                ..TokenQuery::default()
            },
        )
        .await?;
        Ok::<_, AppError>((user, roles, sessions, consents, tokens))
    };
    match read.await {
        Ok((user, roles, sessions, consents, tokens)) => page(
            status,
            UserPage {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                created: when(user.created_at),
                user,
                roles,
                sessions: rows(sessions),
                consents,
                more_tokens: tokens.next_cursor.is_some(),
                tokens: tokens.tokens,
                notice,
                error,
            }
            .render(),
        ),
        Err(e) => failed(state, e),
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match query_value(query.as_deref(), "done").as_deref() {
        Some("changed") => Some("The user was changed."),
        Some("password") => Some("The password was set; the user's sessions were ended."),
        Some("session") => Some("The session was ended."),
        Some("tokens") => Some("The user's tokens were revoked."),
        Some("token") => Some("The token was revoked."),
        Some("consent") => Some("The application's access was withdrawn, with its tokens."),
        _ => None,
    };
    render_user(&state, admin, &name, StatusCode::OK, notice, None).await
}

/// The answer to an administrator's form on a user: the user's page says what was `done`; else
/// the error page.
fn finished(state: &AppState, name: &str, done: &str, result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to(&user_path(name, done)).into_response(),
        Err(e) => failed(state, e),
    }
}

fn user_path(name: &str, done: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("/admin/users/{encoded}?done={done}")
}

pub(super) async fn change(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let store = &*state.store;
    let mut read = match admin::show_user(store, &name).await {
        Ok(read) => read,
        Err(e) => return failed(&state, e),
    };
    // The version the page showed: a change made since is not overwritten.
    read.updated_at = fields.get("read_updated_at").parse().unwrap_or(-1);
    let email = fields.get("email").trim();
    let change = UserChange {
        email: Some(Some(email.to_owned()).filter(|e| !e.is_empty())),
        roles: Some(fields.all("role")),
        disabled: Some(fields.get("disabled") == "1"),
    };
    let refused = |message: String| ("change", message);
    match admin::change_user(&state.app, &admin.actor, &read, change).await {
        Ok(Changed::Done(_)) => Redirect::to(&user_path(&name, "changed")).into_response(),
        Ok(Changed::Stale) => {
            let message =
                "someone changed this user since the page was shown: here they are as they are now";
            let error = Some(refused(message.into()));
            render_user(&state, admin, &name, StatusCode::CONFLICT, None, error).await
        }
        Err(AppError::Invalid(message) | AppError::Conflict(message)) => {
            let error = Some(refused(message));
            render_user(&state, admin, &name, StatusCode::BAD_REQUEST, None, error).await
        }
        Err(e) => failed(&state, e),
    }
}

pub(super) async fn password(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let password = fields.get("password").to_owned();
    match admin::set_password(&state.app, &admin.actor, &name, password).await {
        Ok(()) => Redirect::to(&user_path(&name, "password")).into_response(),
        Err(AppError::Invalid(message)) => {
            let error = Some(("password", message));
            render_user(&state, admin, &name, StatusCode::BAD_REQUEST, None, error).await
        }
        Err(e) => failed(&state, e),
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Response {
    match admin::delete_user(&state.app, &admin.actor, &name).await {
        Ok(()) => Redirect::to("/admin/users?deleted=1").into_response(),
        Err(AppError::Conflict(message)) => {
            let error = Some(("delete", message));
            render_user(&state, admin, &name, StatusCode::CONFLICT, None, error).await
        }
        Err(e) => failed(&state, e),
    }
}

pub(super) async fn end_session(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let handle = fields.get("session");
    let result = sessions::end_session_of(&state.app, &admin.actor, &name, handle).await;
    finished(&state, &name, "session", result)
}

pub(super) async fn revoke_tokens(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Response {
    let result = admin::revoke_user_tokens(&state.app, &admin.actor, &name)
        .await
        .map(|_| ());
    finished(&state, &name, "tokens", result)
}

pub(super) async fn revoke_consent(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let client_id = fields.get("client_id");
    let result = admin::revoke_consent(&state.app, &admin.actor, &name, client_id).await;
    finished(&state, &name, "consent", result)
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    ConsoleAdmin(admin): ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let token_id = fields.get("token_id");
    let result = admin::revoke_user_token(&state.app, &admin.actor, &name, token_id).await;
    finished(&state, &name, "token", result)
}
