//! `/account/tokens`: a user's personal access tokens — made, shown once, listed, revoked.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::account::tokens::{self, NewToken, PersonalTokenView};
use heliogate_app::scopes::{describe_scopes, scopes_of};
use heliogate_app::AppError;

use super::{failed, field_of, query_value, sign_in_again, when, Chrome, Fields, Member};
use crate::pages::{page, CsrfForm};
use crate::AppState;

/// A token with its times as the page shows them.
struct Row {
    token: PersonalTokenView,
    created: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    instance: String,
    chrome: Chrome,
    tokens: Vec<Row>,
    /// The scopes the user holds (the ones a token may have), with what each allows.
    held: Vec<(String, String)>,
    revoked: bool,
    /// The new token, shown this once.
    created: Option<(PersonalTokenView, String)>,
    /// The form as sent, when it was refused.
    name: String,
    chosen: Vec<String>,
    days: i64,
    error: Option<String>,
    error_field: Option<&'static str>,
}

impl TokensPage {
    fn chose(&self, scope: &str) -> bool {
        self.chosen.iter().any(|s| s == scope)
    }

    fn error_on(&self, field: &str) -> bool {
        self.error.is_some() && self.error_field == Some(field)
    }
}

/// What the page shows besides the list.
#[derive(Default)]
struct Shown {
    revoked: bool,
    created: Option<(PersonalTokenView, String)>,
    sent: Option<NewToken>,
    error: Option<String>,
}

async fn render(state: &AppState, member: Member, status: StatusCode, shown: Shown) -> Response {
    let user = &member.signed_in.session.user;
    let read = async {
        let tokens = tokens::personal_tokens(&*state.store, user).await?;
        let held = scopes_of(&*state.store, user).await?;
        let held = describe_scopes(&*state.store, held.iter().map(|s| s.as_str())).await?;
        Ok::<_, AppError>((tokens, held))
    };
    let (list, held) = match read.await {
        Ok(read) => read,
        Err(e) => return failed(state, e),
    };
    let sent = shown.sent.unwrap_or(NewToken {
        days: 30,
        ..NewToken::default()
    });
    let error_field = shown.error.as_deref().and_then(|message| {
        field_of(
            message,
            &[("days", "days"), ("scopes", "scope"), ("name", "name")],
        )
    });
    let rows = list
        .into_iter()
        .map(|token| Row {
            created: when(token.created_at),
            expires: when(token.expires_at),
            last_used: token.last_used_at.map_or_else(|| "never".into(), when),
            token,
        })
        .collect();
    page(
        status,
        TokensPage {
            instance: member.chrome.instance.clone(),
            chrome: member.chrome,
            tokens: rows,
            held,
            revoked: shown.revoked,
            created: shown.created,
            name: sent.name,
            chosen: sent.scopes,
            days: sent.days,
            error: shown.error,
            error_field,
        }
        .render(),
    )
}

pub(super) async fn list(
    State(state): State<AppState>,
    member: Member,
    RawQuery(query): RawQuery,
) -> Response {
    let shown = Shown {
        revoked: query_value(query.as_deref(), "revoked").is_some(),
        ..Shown::default()
    };
    render(&state, member, StatusCode::OK, shown).await
}

pub(super) async fn create(
    State(state): State<AppState>,
    member: Member,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let input = NewToken {
        name: fields.get("name").to_owned(),
        scopes: fields.all("scope"),
        days: fields.get("days").trim().parse().unwrap_or(0),
    };
    let user = &member.signed_in.session.user;
    let signed_in_at = member.signed_in.session.created_at;
    let made =
        tokens::create_personal_token(&state.app, &member.actor, user, signed_in_at, input.clone())
            .await;
    match made {
        Ok(created) => {
            let shown = Shown {
                created: Some(created),
                ..Shown::default()
            };
            render(&state, member, StatusCode::OK, shown).await
        }
        Err(AppError::Invalid(message)) => {
            let shown = Shown {
                sent: Some(input),
                error: Some(message),
                ..Shown::default()
            };
            render(&state, member, StatusCode::BAD_REQUEST, shown).await
        }
        Err(AppError::Reauthenticate(_)) => sign_in_again("/account/tokens"),
        Err(e) => failed(&state, e),
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    member: Member,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Response {
    let user = &member.signed_in.session.user;
    let token_id = fields.get("token_id");
    match tokens::revoke_personal_token(&state.app, &member.actor, user, token_id).await {
        Ok(()) => Redirect::to("/account/tokens?revoked=1").into_response(),
        Err(e) => failed(&state, e),
    }
}
