//! A user's or a client's tokens: listed (never their values), revoked one by one or all at
//! once; and the purge of expired ones.

use crate::App;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_core::{ClientId, TokenKey};
use heliogate_store::{Revocation, Store, TokenHolder, TokenRecord};
use serde::Serialize;
use utoipa::ToSchema;

use super::clients::existing_client;
use super::users::find_user;
use crate::{now, Actor, AppError, Result};

/// A live token, as administrators see it: what it may do and for whom, never its value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct TokenView {
    /// Names the token in this API; not the token, nor anything it could be rebuilt from.
    pub token_id: String,
    /// `access_token` or `refresh_token` (a refresh token's access tokens go with it).
    pub kind: &'static str,
    pub client_id: String,
    /// The user it acts for; none for a client's own token.
    pub user: Option<String>,
    pub scopes: Vec<String>,
    /// The resource servers an access token is for (RFC 8707); empty: the client.
    pub audience: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            token_id: URL_SAFE_NO_PAD.encode(&t.key),
            kind: t.kind.as_str(),
            client_id: t.client_id,
            user: t.username,
            scopes: t.scope.to_vec(),
            audience: t.audience.0.iter().map(|r| r.as_str().to_owned()).collect(),
            issued_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

/// Which page of tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenQuery {
    /// Where the previous page ended: its `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 1000; 50 when none.
    pub limit: Option<u32>,
}

/// A page of live tokens, in the order they are stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPage {
    pub tokens: Vec<TokenView>,
    /// Pass as `cursor` for the next page; none on the last.
    pub next_cursor: Option<String>,
}

/// The key a `token_id` names, if it can name one.
fn token_key(token_id: &str) -> Option<TokenKey> {
    let bytes = URL_SAFE_NO_PAD.decode(token_id).ok()?;
    TokenKey::from_stored(&bytes)
}

async fn page(store: &dyn Store, holder: TokenHolder<'_>, query: TokenQuery) -> Result<TokenPage> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::Invalid("the limit is 1 to 1000 tokens".into()));
    }
    let after = match query.cursor.as_deref() {
        None | Some("") => Vec::new(),
        Some(cursor) => token_key(cursor)
            .ok_or_else(|| AppError::Invalid("the cursor is not one a page gave".into()))?
            .as_bytes()
            .to_vec(),
    };
    let mut tokens = store.live_tokens(holder, now(), &after, limit + 1).await?;
    let more = tokens.len() > limit as usize;
    tokens.truncate(limit as usize);
    let tokens: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    let next_cursor = more
        .then(|| tokens.last().map(|t| t.token_id.clone()))
        .flatten();
    Ok(TokenPage {
        tokens,
        next_cursor,
    })
}

/// A page of the live tokens acting for a user.
pub async fn list_user_tokens(
    store: &dyn Store,
    name: &str,
    query: TokenQuery,
) -> Result<TokenPage> {
    let user = find_user(store, name).await?;
    page(store, TokenHolder::User(&user.id), query).await
}

/// A page of the live tokens issued to a client.
pub async fn list_client_tokens(
    store: &dyn Store,
    client_id: &str,
    query: TokenQuery,
) -> Result<TokenPage> {
    let id = existing_client(store, client_id).await?;
    page(store, TokenHolder::Client(&id), query).await
}

/// Revokes one of a holder's tokens; a refresh token takes the access tokens of its grant.
async fn revoke_one(
    store: &dyn Store,
    actor: &Actor,
    holder: TokenHolder<'_>,
    subject: &str,
    token_id: &str,
) -> Result<()> {
    let not_found = || AppError::NotFound(format!("{subject:?} has no token {token_id:?}"));
    let key = token_key(token_id).ok_or_else(not_found)?;
    let revoked = actor.event(
        "token.revoked",
        subject,
        serde_json::json!({ "token_id": token_id }),
    );
    match store.revoke_token(&key, holder, now(), &revoked).await? {
        Revocation::Revoked => Ok(()),
        Revocation::NotOwned | Revocation::Unknown => Err(not_found()),
    }
}

/// Revokes one token acting for a user.
pub async fn revoke_user_token(app: &App, actor: &Actor, name: &str, token_id: &str) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let user = find_user(store, name).await?;
    revoke_one(
        store,
        actor,
        TokenHolder::User(&user.id),
        &user.name,
        token_id,
    )
    .await
}

/// Revokes one token issued to a client.
pub async fn revoke_client_token(
    app: &App,
    actor: &Actor,
    client_id: &str,
    token_id: &str,
) -> Result<()> {
    let store = app.store();
    let _changed = app.on_change();
    let id: ClientId = existing_client(store, client_id).await?;
    revoke_one(
        store,
        actor,
        TokenHolder::Client(&id),
        id.as_str(),
        token_id,
    )
    .await
}

/// Revokes every live token acting for a user; returns how many.
pub async fn revoke_user_tokens(app: &App, actor: &Actor, name: &str) -> Result<u64> {
    let store = app.store();
    let _changed = app.on_change();
    let user = find_user(store, name).await?;
    let revoked = actor.event(
        "token.revoked",
        &user.name,
        serde_json::json!({ "user": user.name }),
    );
    Ok(store
        .revoke_user_tokens(&user.id, app.now(), &revoked)
        .await?)
}

/// Revokes every live token issued to a client; returns how many.
pub async fn revoke_client_tokens(app: &App, actor: &Actor, client_id: &str) -> Result<u64> {
    let store = app.store();
    let _changed = app.on_change();
    let id = existing_client(store, client_id).await?;
    let revoked = actor.event(
        "token.revoked",
        client_id,
        serde_json::json!({ "client_id": client_id }),
    );
    Ok(store.revoke_client_tokens(&id, app.now(), &revoked).await?)
}

/// What a purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Purged {
    /// Expired tokens, codes and sessions.
    pub purged: u64,
    /// Audit records past their retention.
    pub audit_records: u64,
    /// Sign-in counters idle for longer than their window and not locked.
    pub login_counters: u64,
}

/// Deletes what has expired: tokens, codes and sessions; audit records older than
/// `audit_retention_days`; sign-in counters idle for longer than `throttle_window` seconds.
pub async fn purge_expired(
    store: &dyn Store,
    audit_retention_days: i64,
    throttle_window: i64,
) -> Result<Purged> {
    let now = now();
    Ok(Purged {
        purged: store.purge_expired(now).await?,
        audit_records: store
            .purge_audit(now - audit_retention_days * 86_400)
            .await?,
        login_counters: store
            .purge_login_counters(now - throttle_window, now)
            .await?,
    })
}
