//! `/admin/roles`: roles and the scopes they give; a role is deleted only once nobody holds it.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::admin::{self, Changed, RoleView, ScopeDescription};
use heliogate_app::AppError;

use super::{failed, query_value, words, Chrome, ConsoleAdmin, Fields};
use crate::pages::{page, CsrfForm};
use crate::AppState;

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    instance: String,
    chrome: Chrome,
    roles: Vec<RoleView>,
    /// Every known scope with what it allows, in words.
    scopes: Vec<ScopeDescription>,
    notice: Option<&'static str>,
    /// What was refused, and the role whose form it is about (`""`: the new role's form).
    error: Option<(String, String)>,
    /// The new role's form as sent, when it was refused.
    new_name: String,
    new_scopes: String,
}

impl RolesPage {
    fn error_for(&self, role: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(about, _)| about == role)
            .map(|(_, message)| message.as_str())
    }
}

async fn render(
    state: &AppState,
    admin: ConsoleAdmin,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<(String, String)>,
    new_role: (String, String),
) -> Response {
    let ConsoleAdmin(admin) = admin;
    let read = async {
        let roles = admin::list_roles(&*state.store).await?;
        let scopes = admin::scope_descriptions(&*state.store).await?;
        Ok::<_, AppError>((roles, scopes))
    };
    match read.await {
        Ok((roles, scopes)) => page(
            status,
            RolesPage {
                instance: admin.chrome.instance.clone(),
                chrome: admin.chrome,
                roles,
                scopes,
                notice,
                error,
                new_name: new_role.0,
                new_scopes: new_role.1,
            }
            .render(),
        ),
        Err(e) => failed(state, e),
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match query_value(query.as_deref(), "done").as_deref() {
        Some("created") => Some("The role was created."),
        Some("changed") => Some("The role was changed."),
        Some("deleted") => Some("The role was deleted."),
        Some("described") => Some("The scope's description was saved."),
        _ => None,
    };
    render(
        &state,
        admin,
        StatusCode::OK,
        notice,
        None,
        Default::default(),
    )
    .await
}

/// A refusal shown on the roles page beside the form it is about; anything else is an error
/// page.
async fn refused(
    state: &AppState,
    admin: ConsoleAdmin,
    about: &str,
    e: AppError,
    new_role: (String, String),
) -> Response {
    match e {
        AppError::Invalid(message) | AppError::Conflict(message) | AppError::NotFound(message) => {
            let error = Some((about.to_owned(), message));
            render(state, admin, StatusCode::BAD_REQUEST, None, error, new_role).await
        }
        e => failed(state, e),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let name = fields.get("name").trim().to_owned();
    let scopes = words(fields.get("scopes"));
    match admin::add_role(&*state.store, &admin.0.actor, &name, &scopes).await {
        Ok(_) => Redirect::to("/admin/roles?done=created").into_response(),
        Err(e) => {
            let sent = (name, fields.get("scopes").to_owned());
            refused(&state, admin, "", e, sent).await
        }
    }
}

pub(super) async fn change(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    // The role as the page showed it: a change made meanwhile by someone else is not
    // overwritten.
    let read = RoleView {
        name: name.clone(),
        scopes: words(fields.get("read_scopes")),
        mfa_required: fields.get("read_mfa") == "1",
        managed_by: None,
    };
    let scopes = words(fields.get("scopes"));
    let mfa = fields.get("mfa_required") == "1";
    let changed =
        admin::change_role(&state.app, &admin.0.actor, &read, Some(&scopes), Some(mfa)).await;
    match changed {
        Ok(Changed::Done(_)) => Redirect::to("/admin/roles?done=changed").into_response(),
        Ok(Changed::Stale) => {
            let stale = AppError::Conflict(
                "someone changed this role since the page was shown: here it is as it is now"
                    .into(),
            );
            refused(&state, admin, &name, stale, Default::default()).await
        }
        Err(e) => refused(&state, admin, &name, e, Default::default()).await,
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(name): Path<String>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Response {
    match admin::delete_role(&*state.store, &admin.0.actor, &name).await {
        Ok(()) => Redirect::to("/admin/roles?done=deleted").into_response(),
        Err(e) => refused(&state, admin, &name, e, Default::default()).await,
    }
}

pub(super) async fn describe(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    // A scope may hold characters a path cannot: it comes in the form.
    let scope = fields.get("scope").to_owned();
    let words = fields.get("description");
    match admin::describe_scope(&*state.store, &admin.0.actor, &scope, words).await {
        Ok(()) => Redirect::to("/admin/roles?done=described").into_response(),
        Err(e) => {
            let about = format!("scope:{scope}");
            refused(&state, admin, &about, e, Default::default()).await
        }
    }
}
