//! `/account/sessions`: where the user is signed in, and ending any of it.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::account::sessions::{self, SessionView};
use serde::Deserialize;

use super::{failed, query_value, when, Chrome, Member};
use crate::pages::{page, CsrfForm};
use crate::AppState;

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    instance: String,
    chrome: Chrome,
    sessions: Vec<SessionRow>,
    ended: bool,
}

/// A session with its times as the page shows them.
pub(crate) struct SessionRow {
    pub session: SessionView,
    pub signed_in: String,
    pub last_seen: String,
}

pub(crate) fn rows(sessions: Vec<SessionView>) -> Vec<SessionRow> {
    sessions
        .into_iter()
        .map(|session| SessionRow {
            signed_in: when(session.created_at),
            last_seen: when(session.last_seen_at),
            session,
        })
        .collect()
}

pub(super) async fn list(
    State(state): State<AppState>,
    member: Member,
    RawQuery(query): RawQuery,
) -> Response {
    let user = &member.signed_in.session.user;
    let current = Some(member.signed_in.session_id.as_str());
    match sessions::list_sessions(&*state.store, user, current).await {
        Ok(sessions) => page(
            StatusCode::OK,
            SessionsPage {
                instance: member.chrome.instance.clone(),
                ended: query_value(query.as_deref(), "ended").is_some(),
                chrome: member.chrome,
                sessions: rows(sessions),
            }
            .render(),
        ),
        Err(e) => failed(&state, e),
    }
}

#[derive(Deserialize)]
pub(super) struct EndForm {
    #[serde(default)]
    session: String,
}

pub(super) async fn end(
    State(state): State<AppState>,
    member: Member,
    CsrfForm(form): CsrfForm<EndForm>,
) -> Response {
    let user = &member.signed_in.session.user;
    match sessions::end_session(&state.app, &member.actor, user, &form.session).await {
        Ok(()) => Redirect::to("/account/sessions?ended=1").into_response(),
        Err(e) => failed(&state, e),
    }
}
