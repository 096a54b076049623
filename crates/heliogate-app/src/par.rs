//! Pushed authorization requests (RFC 9126): a client sends its authorization request to
//! `POST /oauth/par`, authenticated and validated there, and sends the browser to the
//! authorization endpoint with only `client_id` and the `request_uri` it got back. The
//! parameters never pass through the browser, and cannot be changed there.

use heliogate_core::oauth::authorize::AuthorizeError;
use heliogate_core::oauth::{grant_scopes, validate_authorize, OAuthError, Params};
use heliogate_core::SecretHash;
use heliogate_store::Store;
use serde::Serialize;

use crate::oauth::authorize::registered;
use crate::oauth::client_auth::authenticate;
use crate::oauth::token::known_scopes;
use crate::oauth::{ClientCredentials, OAuthResult, OAuthState};
use crate::{new_secret, now};

/// How long a pushed request may wait for its browser: a client redirects at once.
pub const PUSHED_REQUEST_TTL: i64 = 60;

/// §2.2: the `request_uri`s heliogate hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of a pushed request that are the client's authentication, not its request:
/// never stored.
const AUTHENTICATION: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2.
#[derive(Debug, Clone, Serialize)]
pub struct PushedResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

/// `POST /oauth/par`: authenticates the client, validates its request as the authorization
/// endpoint will (§2.1: errors are answered here, as JSON), and keeps it for a minute.
pub async fn push(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<PushedResponse> {
    params.check_text()?;
    if params.pairs().iter().any(|(k, _)| k == "request_uri") {
        return Err(
            OAuthError::invalid_request("a pushed request cannot carry request_uri").into(),
        );
    }
    let auth = authenticate(store, config, credentials, addr).await?;
    let client_id = auth.client.client_id.as_str();
    // The request as the authorization endpoint will read it: with its client_id, which a
    // client authenticating with Basic need not repeat in the body.
    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .iter()
        .filter(|(k, _)| !AUTHENTICATION.contains(&k.as_str()))
        .cloned()
        .collect();
    if !pairs.iter().any(|(k, _)| k == "client_id") {
        pairs.push(("client_id".to_owned(), client_id.to_owned()));
    }
    let text = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    let request = match validate_authorize(&Params::parse(&text), Some(&registered(&auth.client))) {
        Ok(request) => request,
        Err(AuthorizeError::Page(message)) => {
            return Err(OAuthError::invalid_request(message).into())
        }
        Err(AuthorizeError::Redirect { error, .. }) => return Err(error.into()),
    };
    // What the authorization endpoint would send back to the client (an unknown scope, one
    // the client may not ask for) is answered here; what depends on the user is answered there.
    let known = known_scopes(store, config).await?;
    grant_scopes(
        request.scope.as_ref(),
        &auth.client.scopes,
        Some(&known),
        &known,
    )?;
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", new_secret());
    let now = now();
    store
        .push_request(
            &SecretHash::of(&request_uri),
            &auth.client.client_id,
            &text,
            now,
            now + PUSHED_REQUEST_TTL,
        )
        .await?;
    Ok(PushedResponse {
        request_uri,
        expires_in: PUSHED_REQUEST_TTL,
    })
}
