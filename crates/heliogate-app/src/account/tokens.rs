//! Personal access tokens: opaque access tokens a user makes for their own scripts — named,
//! for scopes they hold, for a number of days — checked like any other (tokeninfo,
//! introspection, the guard), shown once, listed with their last use, revoked at will. They
//! are ordinary access tokens of the user (issued to the store's built-in personal-tokens
//! client), so everything that ends a user's tokens ends these too: disabling or deleting the
//! user, a role that no longer gives a scope, a new password.

use crate::App;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use heliogate_core::TokenKey;
use heliogate_store::{NewPersonalToken, PersonalToken, Store, User};

use crate::admin;
use crate::scopes::scopes_of;
use crate::{new_token, now, Actor, AppError, Result};

/// The longest a personal access token may live, in days.
pub const MAX_DAYS: i64 = 365;
/// The longest name of a personal access token.
pub const MAX_NAME_CHARS: usize = 100;

/// A live personal access token as its user sees it: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalTokenView {
    /// Names the token in forms (as `token_id` in the administration API).
    pub token_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<PersonalToken> for PersonalTokenView {
    fn from(t: PersonalToken) -> Self {
        Self {
            token_id: URL_SAFE_NO_PAD.encode(t.key.as_bytes()),
            name: t.name,
            scopes: t.scope.to_vec(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// What a user asks for.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub days: i64,
}

/// Makes a personal access token for `user`; its value is returned this once and stored only
/// as its hash.
pub async fn create_personal_token(
    app: &App,
    actor: &Actor,
    user: &User,
    signed_in_at: heliogate_core::UnixTime,
    input: NewToken,
) -> Result<(PersonalTokenView, String)> {
    let store = app.store();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::Invalid(format!(
            "a token's name is 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "a token's name cannot hold control characters".into(),
        ));
    }
    if !(1..=MAX_DAYS).contains(&input.days) {
        return Err(AppError::Invalid(format!(
            "a token lives 1 to {MAX_DAYS} days"
        )));
    }
    if input.scopes.is_empty() {
        return Err(AppError::Invalid("choose at least one scope".into()));
    }
    let held = scopes_of(store, user).await?;
    if let Some(beyond) = input.scopes.iter().find(|s| !held.contains(s)) {
        return Err(AppError::Invalid(format!(
            "you do not hold the scope {beyond:?}: a token of yours can have only scopes you hold"
        )));
    }
    app.require_fresh(input.scopes.iter().map(String::as_str), signed_in_at)?;
    let mut scopes = input.scopes;
    scopes.sort();
    scopes.dedup();
    let token = new_token();
    let created_at = app.now();
    let new = NewPersonalToken {
        key: TokenKey::of(&token),
        user_id: user.id.clone(),
        name: name.to_owned(),
        scope: scopes.join(" "),
        created_at,
        expires_at: created_at + input.days * 86_400,
    };
    let token_id = URL_SAFE_NO_PAD.encode(new.key.as_bytes());
    let event = actor.event(
        "token.created",
        &user.name,
        serde_json::json!({ "token_id": token_id, "name": new.name, "scopes": scopes,
            "expires_at": new.expires_at }),
    );
    store.create_personal_token(&new, &event).await?;
    let view = PersonalTokenView {
        token_id,
        name: new.name,
        scopes,
        created_at,
        expires_at: new.expires_at,
        last_used_at: None,
    };
    Ok((view, token))
}

/// `user`'s live personal access tokens, the newest first.
pub async fn personal_tokens(store: &dyn Store, user: &User) -> Result<Vec<PersonalTokenView>> {
    Ok(store
        .personal_tokens(&user.id, now())
        .await?
        .into_iter()
        .map(PersonalTokenView::from)
        .collect())
}

/// Revokes one of `user`'s tokens; one that is not theirs is `NotFound`.
pub async fn revoke_personal_token(
    app: &App,
    actor: &Actor,
    user: &User,
    token_id: &str,
) -> Result<()> {
    admin::revoke_user_token(app, actor, &user.name, token_id).await
}
