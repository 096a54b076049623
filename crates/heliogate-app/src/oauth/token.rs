//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6).

use std::sync::Arc;

use heliogate_core::oauth::token_request::{self, Grant as NamedGrant, TokenRequest};
use heliogate_core::oauth::Params;
use heliogate_core::oauth::{
    check_code_exchange, check_refresh, grant_scopes, narrow, refresh_scope, requested_resources,
    CodeExchange, IssuedCode, OAuthError, OAuthErrorCode, RefreshUse, StoredRefresh,
};
use heliogate_core::{AccessTokenFormat, GrantType, ScopeSet, SecretHash, TokenKey, UnixTime};
use heliogate_store::{
    AuditEvent, Client, NewAccessToken, NewRefreshToken, OneTimeGrant, Redemption, Store,
};
use serde::Serialize;

use super::access_tokens::{AccessTokens, Format, Grant};
use super::client_auth::{authenticate, AuthenticatedClient, ClientCredentials};
use super::{event, OAuthFailure, OAuthResult, OAuthState};
use crate::oidc::id_token::{id_token, Authentication, Issued};
use crate::oidc::key_ring;
use crate::{new_family_id, new_token, now, scopes};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The grant that issued it (for the metrics; not sent).
    #[serde(skip)]
    pub grant_type: GrantType,
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// OpenID Connect: for a grant whose scope has `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: what an exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// The scopes the server knows: every role's, and the OpenID Connect ones.
pub(crate) async fn known_scopes(
    store: &dyn Store,
    config: &OAuthState,
) -> OAuthResult<Arc<ScopeSet>> {
    if let Some(known) = config.known_scopes.get(&()) {
        return Ok(known);
    }
    let known = Arc::new(scopes::known_scopes(store).await?);
    config.known_scopes.insert((), Arc::clone(&known));
    Ok(known)
}

/// The audit record of an issuance, written with the tokens.
pub(crate) fn issued(
    client_id: &str,
    grant: GrantType,
    user: Option<&str>,
    scope: &str,
    refresh: bool,
    addr: Option<&str>,
) -> AuditEvent {
    event(
        "token.issued",
        client_id,
        user,
        addr,
        serde_json::json!({ "grant_type": grant.as_str(), "scope": scope, "refresh": refresh }),
    )
}

/// A new access token for `grant` in the client's format: opaque, or a JWT (RFC 9068) signed
/// with the client's algorithm.
pub(crate) async fn mint(
    store: &dyn Store,
    config: &OAuthState,
    client: &Client,
    grant: &Grant<'_>,
    now: UnixTime,
) -> OAuthResult<(String, NewAccessToken)> {
    let keys = match client.access_token_format {
        AccessTokenFormat::Opaque => None,
        AccessTokenFormat::Jwt => Some(key_ring(store, config).await?),
    };
    let format = match keys.as_deref() {
        Some(keys) => Format::Jwt {
            keys,
            alg: client.signing_alg,
            issuer: &config.issuer,
        },
        None => Format::Opaque,
    };
    Ok(config.tokens.mint(grant, now, format)?)
}

/// RFC 9449 §5.1: a token bound to a DPoP key is of type `DPoP`.
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// Serves a token request: authenticates the client, checks its DPoP proof (the `DPoP`
/// header, RFC 9449 §5), then runs its grant.
pub async fn token_request(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    credentials: &ClientCredentials,
    proof: Option<&str>,
    addr: Option<&str>,
) -> OAuthResult<TokenResponse> {
    params.check_text()?;
    let named = token_request::grant(params)?;
    let auth = authenticate(store, config, credentials, addr).await?;
    let jkt = crate::dpop::token_request_key(store, config, &auth.client, proof).await?;
    let jkt = jkt.as_deref();
    let grant = match named {
        NamedGrant::Known(grant) => grant,
        NamedGrant::Unknown(name) => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant type {name:?} is not supported"),
            )
            .into());
        }
    };
    if !auth.client.has_grant(grant) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            format!("this client may not use {grant}"),
        )
        .into());
    }
    let response = match TokenRequest::parse(params, grant)? {
        TokenRequest::ClientCredentials { scope } => {
            client_credentials(store, config, params, scope, &auth, jkt, addr).await?
        }
        TokenRequest::TokenExchange(exchange) => {
            crate::exchange::token_exchange(store, config, params, exchange, &auth, jkt, addr)
                .await?
        }
        TokenRequest::DeviceCode { device_code } => {
            crate::device::grant::device_code(store, config, device_code, &auth, jkt, addr).await?
        }
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let presented = PresentedCode {
                code,
                redirect_uri,
                code_verifier,
            };
            authorization_code(store, config, params, presented, &auth, jkt, addr).await?
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => {
            refresh(
                store,
                config,
                params,
                (refresh_token, scope),
                &auth,
                jkt,
                addr,
            )
            .await?
        }
    };
    Ok(response)
}

/// What a client presents with a code.
struct PresentedCode<'a> {
    code: &'a str,
    redirect_uri: Option<&'a str>,
    code_verifier: Option<&'a str>,
}

/// RFC 6749 §4.4: a confidential client's own token; never a refresh token (§4.4.3).
async fn client_credentials(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    requested: Option<ScopeSet>,
    auth: &AuthenticatedClient,
    jkt: Option<&str>,
    addr: Option<&str>,
) -> OAuthResult<TokenResponse> {
    let tokens = &*config.tokens;
    if !auth.confidential {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "client credentials need a confidential client",
        )
        .into());
    }
    let audience = requested_resources(params, &auth.client.resources)?;
    let known = known_scopes(store, config).await?;
    let scope = grant_scopes(requested.as_ref(), &auth.client.scopes, None, &known)?.to_string();
    let now = now();
    let (access_token, record) = mint(
        store,
        config,
        &auth.client,
        &Grant {
            client_id: auth.client.client_id.as_str(),
            user_id: None,
            scope: &scope,
            family_id: None,
            audience: &audience,
            jkt,
            exchanged: None,
            sid: None,
        },
        now,
    )
    .await?;
    let event = issued(
        auth.client.client_id.as_str(),
        GrantType::ClientCredentials,
        None,
        &scope,
        false,
        addr,
    );
    store.issue_tokens(record, None, Some(event)).await?;
    Ok(TokenResponse {
        grant_type: GrantType::ClientCredentials,
        access_token,
        token_type: token_type(jkt),
        expires_in: tokens.ttl,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    })
}

/// Whether this grant gets a refresh token: the client must be allowed the refresh_token
/// grant; asking for `offline_access` means the same and needs the same.
fn wants_refresh(client: &Client) -> bool {
    client.has_grant(GrantType::RefreshToken)
}

/// The first refresh token of a user's grant (RFC 6749 §6), when the client may have one: in
/// the grant's family, repeating its sign-in; a public client's bound to its DPoP key (RFC 9449
/// §5). The token for the client, and the record to store.
pub(crate) fn first_refresh(
    config: &OAuthState,
    client: &Client,
    grant: &Grant<'_>,
    sign_in: &Authentication,
    now: UnixTime,
) -> (Option<String>, Option<NewRefreshToken>) {
    let (Some(user_id), Some(family_id)) = (grant.user_id, grant.family_id) else {
        return (None, None);
    };
    if !wants_refresh(client) {
        return (None, None);
    }
    let token = new_token();
    let refresh = NewRefreshToken {
        key: TokenKey::of(&token),
        family_id: family_id.to_owned(),
        client_id: grant.client_id.to_owned(),
        user_id: user_id.to_owned(),
        scope: grant.scope.to_owned(),
        auth_time: sign_in.auth_time,
        sid: sign_in.sid.clone(),
        amr: sign_in.amr.clone(),
        created_at: now,
        expires_at: now + config.refresh_token_ttl,
        jkt: grant.jkt.filter(|_| client.is_public()).map(str::to_owned),
    };
    (Some(token), Some(refresh))
}

/// RFC 6749 §4.1.3 with RFC 7636 §4.6: redeem a code once, for the client it was issued to,
/// with the same redirect URI and the PKCE verifier.
async fn authorization_code(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    presented: PresentedCode<'_>,
    auth: &AuthenticatedClient,
    jkt: Option<&str>,
    addr: Option<&str>,
) -> OAuthResult<TokenResponse> {
    let tokens = &*config.tokens;
    let PresentedCode {
        code,
        redirect_uri,
        code_verifier: verifier,
    } = presented;
    // Checked before the code is spent: a malformed or unregistered resource changes nothing.
    let requested = requested_resources(params, &auth.client.resources)?;
    let now = now();
    let code_hash = SecretHash::of(code);
    // Read with its user as the user stands now, not spent: the code is spent with the tokens'
    // rows, in the same transaction (`issue_from`); a refused exchange spends it too, through
    // `redeem_code`.
    let Some((code, user)) = store.authorization_code(&code_hash).await? else {
        return Err(OAuthError::invalid_grant("the authorization code is not valid").into());
    };
    let client_id = auth.client.client_id.as_str();
    let spend = |refusal: OAuthError| {
        redeem_refused(store, tokens, &code_hash, now, client_id, addr, refusal)
    };
    if code.redeemed_at.is_some() {
        return Err(spend(replay_refusal()).await);
    }
    let checked = check_code_exchange(
        &IssuedCode {
            client_id: &code.client_id,
            redirect_uri: code.redirect_uri.as_str(),
            redirect_uri_given: code.redirect_uri_given,
            code_challenge: code.code_challenge.as_deref(),
            expires_at: code.expires_at,
        },
        &CodeExchange {
            client_id: auth.client.client_id.as_str(),
            redirect_uri,
            code_verifier: verifier,
        },
        now,
    );
    if let Err(refusal) = checked {
        return Err(spend(refusal).await);
    }
    if user.disabled {
        let refusal = OAuthError::invalid_grant("the user of this grant is no longer active");
        return Err(spend(refusal).await);
    }
    let audience = match narrow(requested, &code.resources.0) {
        Ok(audience) => audience,
        Err(refusal) => return Err(spend(refusal).await),
    };
    let scope = code.scope.to_string();
    let family_id = new_family_id();
    let authentication = Authentication {
        auth_time: Some(code.auth_time),
        nonce: code.nonce,
        sid: code.sid,
        amr: code.amr,
    };
    let grant = Grant {
        client_id: auth.client.client_id.as_str(),
        user_id: Some(&user.id),
        scope: &scope,
        family_id: Some(&family_id),
        audience: &audience,
        jkt,
        exchanged: None,
        sid: authentication.sid.as_deref(),
    };
    let (access_token, record) = mint(store, config, &auth.client, &grant, now).await?;
    let (refresh_token, refresh) =
        first_refresh(config, &auth.client, &grant, &authentication, now);
    let event = issued(
        auth.client.client_id.as_str(),
        GrantType::AuthorizationCode,
        Some(&user.name),
        &scope,
        refresh.is_some(),
        addr,
    );
    // Lost to another use of the same code, which spent it first: that is a replay, and
    // RFC 6749 §4.1.2 revokes every token the code gave.
    if !store
        .issue_from(OneTimeGrant::Code(code_hash), record, refresh, Some(event))
        .await?
    {
        return Err(spend(replay_refusal()).await);
    }
    let issued = Issued {
        client: &auth.client,
        user: &user,
        scope: &code.scope,
        access_token: &access_token,
        now,
    };
    let id_token = id_token(store, config, issued, authentication).await?;
    Ok(TokenResponse {
        grant_type: GrantType::AuthorizationCode,
        access_token,
        token_type: token_type(jkt),
        expires_in: tokens.ttl,
        scope,
        refresh_token,
        id_token,
        issued_token_type: None,
    })
}

fn replay_refusal() -> OAuthError {
    OAuthError::invalid_grant("the authorization code was already used")
}

/// Spends a code whose exchange is refused, and answers `refusal`; a code spent before (by
/// another exchange, maybe a moment ago) is a replay: every token it gave is revoked, and the
/// answer says so (RFC 6749 §4.1.2), and `client_id`'s replay is recorded.
async fn redeem_refused(
    store: &dyn Store,
    tokens: &AccessTokens,
    code: &SecretHash,
    now: UnixTime,
    client_id: &str,
    addr: Option<&str>,
    refusal: OAuthError,
) -> OAuthFailure {
    let replayed = event(
        "code.replayed",
        client_id,
        None,
        addr,
        serde_json::json!({}),
    );
    match store.redeem_code(code, now, &replayed).await {
        Ok(Redemption::Replayed { .. }) => {
            tokens.forget_all();
            replay_refusal().into()
        }
        Ok(_) => refusal.into(),
        Err(e) => e.into(),
    }
}

/// RFC 6749 §6 with rotation (RFC 9700 §4.14.2): each refresh token works once; a second use
/// revokes its whole family. A refresh may narrow the scope, never widen it, and never beyond
/// what the user's roles hold now.
async fn refresh(
    store: &dyn Store,
    config: &OAuthState,
    params: &Params,
    (presented, requested): (&str, Option<ScopeSet>),
    auth: &AuthenticatedClient,
    jkt: Option<&str>,
    addr: Option<&str>,
) -> OAuthResult<TokenResponse> {
    let tokens = &*config.tokens;
    let audience = requested_resources(params, &auth.client.resources)?;
    let now = now();
    let key = TokenKey::of(presented);
    let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
    let Some(old) = store.refresh_token(&key).await? else {
        return Err(invalid().into());
    };
    let state = StoredRefresh {
        client_id: &old.client_id,
        rotated: old.rotated_at.is_some(),
        revoked: old.revoked_at.is_some(),
        expires_at: old.expires_at,
    };
    match check_refresh(&state, auth.client.client_id.as_str(), now) {
        // RFC 9449 §5: a bound refresh token is used with a proof of its key only.
        RefreshUse::Usable if old.jkt.is_some() && old.jkt.as_deref() != jkt => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidDpopProof,
                "the refresh token is bound to another DPoP key",
            )
            .into());
        }
        RefreshUse::Usable => {}
        RefreshUse::Invalid => return Err(invalid().into()),
        RefreshUse::Replayed => {
            let replayed = event(
                "refresh.replayed",
                auth.client.client_id.as_str(),
                None,
                addr,
                serde_json::json!({}),
            );
            store.revoke_family(&old.family_id, now, &replayed).await?;
            tokens.forget_all();
            return Err(invalid().into());
        }
    }
    let user = store
        .user_with_scopes(&old.user_id)
        .await?
        .filter(|(u, _)| !u.disabled);
    let Some((user, holds)) = user else {
        return Err(invalid().into());
    };
    let known = known_scopes(store, config).await?;
    let granted = refresh_scope(
        requested.as_ref(),
        &old.scope,
        &auth.client.scopes,
        &holds,
        &known,
    )?;
    let scope = granted.to_string();
    let (access_token, record) = mint(
        store,
        config,
        &auth.client,
        &Grant {
            client_id: auth.client.client_id.as_str(),
            user_id: Some(&user.id),
            scope: &scope,
            family_id: Some(&old.family_id),
            audience: &audience,
            jkt,
            exchanged: None,
            sid: old.sid.as_deref(),
        },
        now,
    )
    .await?;
    let token = new_token();
    // RFC 6749 §6: the new refresh token has the scope of the one it replaces.
    let next = NewRefreshToken {
        key: TokenKey::of(&token),
        family_id: old.family_id.clone(),
        client_id: old.client_id.clone(),
        user_id: old.user_id.clone(),
        scope: old.scope.to_string(),
        auth_time: old.auth_time,
        sid: old.sid.clone(),
        amr: old.amr.clone(),
        created_at: now,
        expires_at: now + config.refresh_token_ttl,
        jkt: old.jkt.clone(),
    };
    let event = issued(
        auth.client.client_id.as_str(),
        GrantType::RefreshToken,
        Some(&user.name),
        &scope,
        true,
        addr,
    );
    let replayed = crate::event(
        "refresh.replayed",
        auth.client.client_id.as_str(),
        None,
        addr,
        serde_json::json!({}),
    );
    if !store
        .rotate_refresh(&key, &record, &next, now, Some(&event), &replayed)
        .await?
    {
        tokens.forget_all();
        return Err(invalid().into());
    }
    // Core §12.2: the same sign-in, a new ID token; no nonce.
    let authentication = Authentication {
        auth_time: old.auth_time,
        nonce: None,
        sid: old.sid,
        amr: old.amr,
    };
    let issued = Issued {
        client: &auth.client,
        user: &user,
        scope: &granted,
        access_token: &access_token,
        now,
    };
    let id_token = id_token(store, config, issued, authentication).await?;
    Ok(TokenResponse {
        grant_type: GrantType::RefreshToken,
        access_token,
        token_type: token_type(jkt),
        expires_in: tokens.ttl,
        scope,
        refresh_token: Some(token),
        id_token,
        issued_token_type: None,
    })
}
