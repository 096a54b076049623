//! The authorization endpoint's decisions (RFC 6749 §4.1.1–§4.1.2): validate the request,
//! require a signed-in user, ask for consent unless it was given before, and answer the
//! client at its redirect URI with a code or an error, always with `iss` (RFC 9207).

use heliogate_core::oauth::authorize::{
    needs_fresh_sign_in, redirect_with, AuthorizeError, AuthorizeRequest, RegisteredClient,
};
use heliogate_core::oauth::{
    grant_scopes, must_ask, validate_authorize, ConsentAsker, OAuthError, OAuthErrorCode,
};
use heliogate_core::oauth::{resource, Params};
use heliogate_core::{ClientId, ScopeSet, SecretHash, UnixTime};
use heliogate_store::{Client, NewCode, Store, User};

use super::token::known_scopes;
use super::{audit, event, OAuthFailure, OAuthResult, OAuthState, CODE_TTL};
use crate::scopes::scopes_of;
use crate::scopes::usable_client;
use crate::{new_secret, now};

/// The signed-in user of an authorization request, with the sign-in it rests on: what an ID
/// token says of the authentication (`auth_time`, `sid`).
#[derive(Debug, Clone, Copy)]
pub struct SignedInUser<'a> {
    pub user: &'a User,
    /// When the session began: the time of the authentication.
    pub auth_time: UnixTime,
    /// The session's public id (see `crate::login::session_sid`).
    pub sid: &'a str,
    /// How the session was signed in (`amr` values separated by spaces).
    pub amr: &'a str,
}

/// What the web layer should do with an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI is in doubt: show this to the user, redirect nowhere.
    ErrorPage(String),
    /// Send the browser here: a code, or an error, for the client.
    Redirect(String),
    /// Nobody is signed in: sign in first, then come back.
    LoginRequired,
    /// Someone is signed in, but the request wants a fresh sign-in (`prompt=login` or
    /// `select_account`, `max_age`, `acr_values=mfa`): sign in again (with a second factor
    /// when `mfa`), then come back without asking that again.
    SignInAgain { mfa: bool },
    /// Ask the user: `client_name` wants `scopes`.
    ConsentRequired {
        request: Box<AuthorizeRequest>,
        client_name: String,
        scopes: ScopeSet,
    },
}

/// The client as the protocol rules see it.
pub(crate) fn registered(client: &Client) -> RegisteredClient {
    RegisteredClient {
        client_id: client.client_id.to_string(),
        pkce_required: client.is_public() || !client.pkce_optional,
        redirect_uris: client.redirect_uris.clone(),
        grant_types: client.grant_types.clone(),
        scopes: client.scopes.clone(),
        resources: client.resources.clone(),
    }
}

/// The answer to the client at its redirect URI: `params`, then `state` as sent, then `iss`.
fn answer(
    config: &OAuthState,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> String {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    all.push(("iss", &config.issuer));
    redirect_with(redirect_uri, &all)
}

fn error_answer(
    config: &OAuthState,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> AuthorizeOutcome {
    let params = [
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    AuthorizeOutcome::Redirect(answer(config, redirect_uri, state, &params))
}

/// A request that came through `POST /oauth/par` (RFC 9126): the hash of its `request_uri`,
/// and the session that was sent to sign in afresh for it, if one was.
#[derive(Debug, Clone)]
struct Pushed {
    hash: SecretHash,
    stale_sid: Option<String>,
}

/// A validated request with its client (and, when it was pushed, where it is kept), or the
/// outcome to answer with at once.
type Validated = Result<(AuthorizeRequest, Client, Option<Pushed>), AuthorizeOutcome>;

/// The parameters of a request: those pushed, for a `request_uri` of ours that this client
/// pushed and has not used (RFC 9126 §4: the others sent with it are ignored), or those sent.
async fn resolve(
    store: &dyn Store,
    params: &Params,
) -> OAuthResult<Result<(Params, Option<Pushed>), AuthorizeOutcome>> {
    let Ok(Some(request_uri)) = params.get("request_uri") else {
        return Ok(Ok((params.clone(), None)));
    };
    let gone = || {
        Ok(Err(AuthorizeOutcome::ErrorPage(
            "The authorization request has expired or was used already. Go back to the \
             application and start again."
                .into(),
        )))
    };
    if !request_uri.starts_with(crate::par::REQUEST_URI_PREFIX) {
        return gone();
    }
    let hash = SecretHash::of(request_uri);
    let Some(pushed) = store.pushed_request(&hash, now()).await? else {
        return gone();
    };
    if params.get("client_id").ok().flatten() != Some(pushed.client_id.as_str()) {
        return gone();
    }
    let stale_sid = pushed.stale_sid;
    Ok(Ok((
        Params::parse(&pushed.params),
        Some(Pushed { hash, stale_sid }),
    )))
}

async fn validate(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
) -> OAuthResult<Validated> {
    let (params, pushed) = match resolve(store, params).await? {
        Ok(resolved) => resolved,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let params = &params;
    let client_id = params.get("client_id").ok().flatten();
    let client = match client_id.map(ClientId::parse) {
        Some(Ok(id)) => usable_client(store, &id).await?,
        _ => None,
    };
    // RFC 9126 §6: a client registered so sends pushed requests only.
    if pushed.is_none() && client.as_ref().is_some_and(|c| c.require_par) {
        return Ok(Err(AuthorizeOutcome::ErrorPage(
            "This application must push its authorization requests first (RFC 9126).".into(),
        )));
    }
    let checked = validate_authorize(params, client.as_ref().map(registered).as_ref());
    Ok(match (checked, client) {
        (Ok(request), Some(client)) => Ok((request, client, pushed)),
        (Ok(_), None) => Err(AuthorizeOutcome::ErrorPage(
            "The application is not registered.".into(),
        )),
        (Err(AuthorizeError::Page(message)), _) => Err(AuthorizeOutcome::ErrorPage(message)),
        (
            Err(AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
            }),
            _,
        ) => Err(error_answer(
            config,
            &redirect_uri,
            state.as_deref(),
            &error,
        )),
    })
}

/// The scopes this user may grant this client, or the answer that sends the client the error.
async fn grantable(
    store: &dyn Store,
    config: &OAuthState,
    request: &AuthorizeRequest,
    client: &Client,
    user: &User,
) -> OAuthResult<Result<ScopeSet, AuthorizeOutcome>> {
    let known = known_scopes(store, config).await?;
    let holds = scopes_of(store, user).await?;
    Ok(
        grant_scopes(request.scope.as_ref(), &client.scopes, Some(&holds), &known).map_err(
            |error| {
                error_answer(
                    config,
                    &request.redirect_uri,
                    request.state.as_deref(),
                    &error,
                )
            },
        ),
    )
}

/// Issues a code for an approved request and returns where to send the browser. A pushed
/// request is used up by it (RFC 9126 §4: one code per `request_uri`).
async fn issue_code(
    store: &dyn Store,
    config: &OAuthState,
    (request, pushed): (&AuthorizeRequest, Option<&Pushed>),
    signed_in: SignedInUser<'_>,
    scopes: &ScopeSet,
) -> OAuthResult<AuthorizeOutcome> {
    let code = new_secret();
    let now = now();
    if let Some(pushed) = pushed {
        if !store.use_pushed_request(&pushed.hash, now).await? {
            return Ok(AuthorizeOutcome::ErrorPage(
                "The authorization request was used already. Go back to the application and \
                 start again."
                    .into(),
            ));
        }
    }
    store
        .insert_code(&NewCode {
            hash: SecretHash::of(&code),
            client_id: request.client_id.clone(),
            user_id: signed_in.user.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_given: request.redirect_uri_given,
            scope: scopes.to_string(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            auth_time: signed_in.auth_time,
            sid: Some(signed_in.sid.to_owned()),
            amr: Some(signed_in.amr.to_owned()),
            resources: (!request.resources.is_empty()).then(|| resource::join(&request.resources)),
            created_at: now,
            expires_at: now + CODE_TTL,
        })
        .await?;
    Ok(AuthorizeOutcome::Redirect(answer(
        config,
        &request.redirect_uri,
        request.state.as_deref(),
        &[("code", &code)],
    )))
}

/// A `GET /oauth/authorize`: answers at once when it can, or asks for sign-in or consent.
pub async fn authorize(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    signed_in: Option<SignedInUser<'_>>,
) -> OAuthResult<AuthorizeOutcome> {
    let (mut request, client, pushed) = match validate(store, config, params).await? {
        Ok(valid) => valid,
        Err(outcome) => return Ok(outcome),
    };
    // OpenID Connect Core §3.1.2.6: with prompt=none, what would need a page is an error.
    let refuse = |code: OAuthErrorCode, description: &str| {
        Ok(error_answer(
            config,
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::new(code, description),
        ))
    };
    let Some(signed_in) = signed_in else {
        if request.prompt.none {
            return refuse(OAuthErrorCode::LoginRequired, "nobody is signed in");
        }
        return Ok(AuthorizeOutcome::LoginRequired);
    };
    // A pushed request keeps its `prompt` on the way back from the fresh sign-in it asked for
    // (the parameters are at the server, not in the URL): a session other than the one sent
    // to sign in is that sign-in.
    if let Some(stale) = pushed.as_ref().and_then(|p| p.stale_sid.as_deref()) {
        if stale != signed_in.sid {
            request.prompt.login = false;
            request.prompt.select_account = false;
        }
    }
    let with_mfa = heliogate_core::oidc::has_second_factor(signed_in.amr);
    if needs_fresh_sign_in(&request, signed_in.auth_time, with_mfa, now()) {
        if request.prompt.none {
            return refuse(
                OAuthErrorCode::LoginRequired,
                "the sign-in is older than max_age",
            );
        }
        if let Some(pushed) = &pushed {
            store
                .mark_pushed_sign_in_stale(&pushed.hash, signed_in.sid)
                .await?;
        }
        return Ok(AuthorizeOutcome::SignInAgain {
            mfa: request.mfa_requested,
        });
    }
    let user = signed_in.user;
    let scopes = match grantable(store, config, &request, &client, user).await? {
        Ok(scopes) => scopes,
        Err(outcome) => return Ok(outcome),
    };
    let remembered = store.consent(&user.id, &client.client_id).await?;
    let asker = ConsentAsker {
        public: client.is_public(),
        trusted: client.trusted,
        prompt_consent: request.prompt.consent,
    };
    if !must_ask(remembered.as_ref(), &scopes, asker) {
        return issue_code(
            store,
            config,
            (&request, pushed.as_ref()),
            signed_in,
            &scopes,
        )
        .await;
    }
    if request.prompt.none {
        return refuse(
            OAuthErrorCode::ConsentRequired,
            "the user has not consented to this request",
        );
    }
    Ok(AuthorizeOutcome::ConsentRequired {
        request: Box::new(request),
        client_name: client.name,
        scopes,
    })
}

/// The user's answer on the consent page: the request is validated again from its
/// parameters, then either a code (and the consent remembered) or `access_denied`.
pub async fn decide(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    signed_in: SignedInUser<'_>,
    approved: bool,
    addr: Option<&str>,
) -> OAuthResult<AuthorizeOutcome> {
    let user = signed_in.user;
    let (request, client, pushed) = match validate(store, config, params).await? {
        Ok(valid) => valid,
        Err(outcome) => return Ok(outcome),
    };
    if !approved {
        audit(
            store,
            "consent.denied",
            &user.name,
            Some(client.client_id.as_str()),
            addr,
            serde_json::json!({}),
        )
        .await?;
        let error = OAuthError::new(OAuthErrorCode::AccessDenied, "the user denied the request");
        return Ok(error_answer(
            config,
            &request.redirect_uri,
            request.state.as_deref(),
            &error,
        ));
    }
    let scopes = match grantable(store, config, &request, &client, user).await? {
        Ok(scopes) => scopes,
        Err(outcome) => return Ok(outcome),
    };
    let remembered = store
        .consent(&user.id, &client.client_id)
        .await?
        .unwrap_or_default()
        .union(&scopes);
    let granted = event(
        "consent.granted",
        &user.name,
        Some(client.client_id.as_str()),
        addr,
        serde_json::json!({ "scope": remembered.to_string() }),
    );
    store
        .save_consent(&user.id, &client.client_id, &remembered, now(), &granted)
        .await?;
    issue_code(
        store,
        config,
        (&request, pushed.as_ref()),
        signed_in,
        &scopes,
    )
    .await
}

/// A user's authorized applications, and taking one back.
pub async fn withdraw_consent(
    store: &dyn Store,
    config: &OAuthState,
    user: &User,
    client_id: &str,
    addr: Option<&str>,
) -> Result<bool, OAuthFailure> {
    // An id that cannot be any client's has no consent to withdraw.
    let withdrawn = event(
        "consent.withdrawn",
        &user.name,
        Some(client_id),
        addr,
        serde_json::json!({}),
    );
    let withdrawn = match ClientId::parse(client_id) {
        Ok(id) => {
            store
                .revoke_consent(&user.id, &id, now(), &withdrawn)
                .await?
        }
        Err(_) => false,
    };
    config.tokens.forget_all();
    Ok(withdrawn)
}
