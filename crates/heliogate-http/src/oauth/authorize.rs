//! `/oauth/authorize` (RFC 6749 §4.1.1): sign-in when needed, the consent page, and the
//! answer to the client; and withdrawing a consent from the account page.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use heliogate_app::login::session_sid;
use heliogate_app::oauth::authorize::{self, AuthorizeOutcome, SignedInUser};
use heliogate_app::oauth::OAuthFailure;
use heliogate_app::scopes::describe_scopes;
use heliogate_core::oauth::authorize::FRESH_SIGN_IN_PARAMETERS;
use heliogate_core::oauth::Params;
use heliogate_core::{ScopeSet, MAX_NEXT_LEN};
use serde::Deserialize;

use crate::error::{app_error_page, error_page};
use crate::pages::{form_redirecting_to, page, CsrfForm, PageForm};
use crate::proxy::ClientAddr;
use crate::session::{login_location, optional_session, SignedIn};
use crate::AppState;

/// The parameters of an authorization request that the consent form carries back (of a
/// pushed request, `client_id` and `request_uri`: the rest is kept at the server).
const CARRIED: [&str; 10] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "resource",
    "request_uri",
];

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    instance: &'a str,
    csrf_token: &'a str,
    user: &'a str,
    client_name: &'a str,
    scopes: Vec<(String, String)>,
    fields: Vec<(String, String)>,
}

async fn consent_page(
    state: &AppState,
    signed_in: &SignedIn,
    params: &Params,
    client_name: &str,
    scopes: &ScopeSet,
    redirect_uri: &str,
) -> Response {
    // Every value: `resource` may be repeated (RFC 8707 §2); the others were checked single.
    let fields = CARRIED
        .iter()
        .flat_map(|name| params.all(name).map(|v| ((*name).to_owned(), v.to_owned())))
        .collect();
    let described = describe_scopes(&*state.store, scopes.iter().map(|s| s.as_str())).await;
    let scopes = match described {
        Ok(scopes) => scopes,
        Err(e) => return app_error_page(state, e),
    };
    let html = ConsentPage {
        instance: &state.config.instance_name,
        csrf_token: &signed_in.session.csrf_token,
        user: &signed_in.session.user.name,
        client_name,
        scopes,
        fields,
    }
    .render();
    form_redirecting_to(page(StatusCode::OK, html), Some(redirect_uri))
}

async fn outcome_response(
    state: &AppState,
    outcome: Result<AuthorizeOutcome, OAuthFailure>,
    signed_in: Option<&SignedIn>,
    params: &Params,
    here: &str,
) -> Response {
    match outcome {
        Ok(AuthorizeOutcome::Redirect(to)) => Redirect::to(&to).into_response(),
        Ok(AuthorizeOutcome::ErrorPage(message)) => {
            error_page(state, StatusCode::BAD_REQUEST, "Cannot continue", &message)
        }
        Ok(AuthorizeOutcome::LoginRequired) => Redirect::to(&login_location(here)).into_response(),
        Ok(AuthorizeOutcome::SignInAgain { mfa }) => {
            // Back here afterwards without what asked for the fresh sign-in.
            let kept: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    params
                        .pairs()
                        .iter()
                        .filter(|(k, _)| !FRESH_SIGN_IN_PARAMETERS.contains(&k.as_str())),
                )
                .finish();
            let next = format!("/oauth/authorize?{kept}");
            let mfa = if mfa { "&mfa=1" } else { "" };
            Redirect::to(&format!("{}&again=1{mfa}", login_location(&next))).into_response()
        }
        Ok(AuthorizeOutcome::ConsentRequired {
            request,
            client_name,
            scopes,
        }) => match signed_in {
            Some(signed_in) => {
                consent_page(
                    state,
                    signed_in,
                    params,
                    &client_name,
                    &scopes,
                    &request.redirect_uri,
                )
                .await
            }
            None => Redirect::to(&login_location(here)).into_response(),
        },
        Err(OAuthFailure::App(e)) => app_error_page(state, e),
        Err(OAuthFailure::Protocol(e)) => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            &e.description,
        ),
    }
}

/// An authorization request by GET: its parameters in the query.
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    authorization_request(&state, &headers, query.unwrap_or_default()).await
}

/// `POST /oauth/authorize`: an authorization request by POST (OpenID Connect Core §3.1.2.1:
/// the endpoint MUST accept it; form parameters, the same checks as by GET), or the consent
/// page's answer, which carries the session's CSRF token and a decision.
pub(super) async fn post(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> Response {
    let consent = form
        .iter()
        .any(|(k, _)| k == "decision" || k == "csrf_token");
    if consent {
        return match optional_session(&headers, &state).await {
            Ok(Some(signed_in)) => decide(&state, addr, signed_in, form).await,
            Ok(None) => Redirect::to(&login_location("/")).into_response(),
            Err(response) => response,
        };
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter())
        .finish();
    authorization_request(&state, &headers, query).await
}

async fn authorization_request(state: &AppState, headers: &HeaderMap, query: String) -> Response {
    let here = format!("/oauth/authorize?{query}");
    // Longer than a sign-in can carry back: refused, so that every request accepted here
    // survives a sign-in in the middle.
    if here.len() > MAX_NEXT_LEN {
        return error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "The authorization request is too long.",
        );
    }
    let params = Params::parse(&query);
    let signed_in = match optional_session(headers, state).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if signed_in
        .as_ref()
        .is_some_and(|s| s.session.user.must_change_password)
    {
        return Redirect::to("/").into_response();
    }
    let sid = signed_in.as_ref().map(|s| session_sid(&s.session_id));
    let user = signed_in
        .as_ref()
        .zip(sid.as_deref())
        .map(|(s, sid)| SignedInUser {
            user: &s.session.user,
            auth_time: s.session.created_at,
            sid,
            amr: &s.session.amr,
        });
    let outcome = authorize::authorize(&*state.store, &state.config.oauth, &params, user).await;
    outcome_response(state, outcome, signed_in.as_ref(), &params, &here).await
}

/// The consent page's answer.
async fn decide(
    state: &AppState,
    addr: Option<Arc<str>>,
    signed_in: SignedIn,
    form: Vec<(String, String)>,
) -> Response {
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if let Err(refusal) = signed_in.check_csrf(state, value("csrf_token")) {
        return refusal;
    }
    let approved = match value("decision") {
        "approve" => true,
        "deny" => false,
        _ => {
            return error_page(
                state,
                StatusCode::BAD_REQUEST,
                "Not accepted",
                "Choose Allow or Deny.",
            )
        }
    };
    let carried: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().filter(|(k, _)| CARRIED.contains(&k.as_str())))
        .finish();
    let params = Params::parse(&carried);
    if signed_in.session.user.must_change_password {
        return Redirect::to("/").into_response();
    }
    let sid = session_sid(&signed_in.session_id);
    let user = SignedInUser {
        user: &signed_in.session.user,
        auth_time: signed_in.session.created_at,
        sid: &sid,
        amr: &signed_in.session.amr,
    };
    let outcome = authorize::decide(
        &*state.store,
        &state.config.oauth,
        &params,
        user,
        approved,
        addr.as_deref(),
    )
    .await;
    outcome_response(state, outcome, Some(&signed_in), &params, "/").await
}

#[derive(Deserialize)]
pub(super) struct WithdrawForm {
    #[serde(default)]
    client_id: String,
}

/// The account page's "revoke" on an authorized application: the consent goes, and every
/// token the application holds for this user with it.
pub(super) async fn withdraw(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<WithdrawForm>,
) -> Response {
    match authorize::withdraw_consent(
        &*state.store,
        &state.config.oauth,
        &signed_in.session.user,
        &form.client_id,
        addr.as_deref(),
    )
    .await
    {
        Ok(_) => Redirect::to("/?application=revoked").into_response(),
        Err(OAuthFailure::App(e)) => app_error_page(&state, e),
        Err(OAuthFailure::Protocol(e)) => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Not accepted",
            &e.description,
        ),
    }
}
