//! The records the store takes and returns.

use heliogate_core::oauth::resource::StoredResources;
use heliogate_core::oauth::Resource;
use heliogate_core::{
    AccessTokenFormat, ClientId, ClientKind, ClientSpec, Email, GrantType, LogoutUri, RedirectUri,
    RoleName, ScopeSet, SecretHash, SigningAlg, TokenKey, UnixTime, UserName,
};
use serde_json::Value;

/// A user as the rest of the server sees them: never with the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable, random, never reused: the `sub` of tokens.
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub disabled: bool,
    /// The password was chosen by someone else (the first start's): the next sign-in must
    /// replace it before anything else.
    pub must_change_password: bool,
    pub roles: Vec<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub name: UserName,
    pub email: Option<Email>,
    /// An Argon2id PHC string.
    pub password_hash: String,
    pub roles: Vec<RoleName>,
    pub must_change_password: bool,
    pub now: UnixTime,
}

/// A user with their password hash: what a sign-in reads, once.
#[derive(Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: RoleName,
    pub scopes: ScopeSet,
    /// Its users must sign in with a second factor.
    pub mfa_required: bool,
    /// The settings file that declares it (`heliogate apply`), if one does.
    pub managed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: ClientId,
    /// `None` for a public client.
    pub secret_hash: Option<SecretHash>,
    pub name: String,
    /// The owning user's name.
    pub owner: Option<String>,
    /// The owning user: an application a user registered is theirs by id, never by name, and
    /// goes when they go.
    pub owner_id: Option<String>,
    pub kind: ClientKind,
    pub redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    /// May introspect tokens issued to other clients (RFC 7662 §4): a resource server.
    pub introspect: bool,
    /// Vouched for by an administrator: a remembered consent is used again even when public.
    pub trusted: bool,
    /// A confidential client allowed to omit PKCE; never a public one.
    pub pkce_optional: bool,
    /// Where the client may send the browser after signing the user out (RP-Initiated
    /// Logout), matched exactly.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub signing_alg: SigningAlg,
    pub access_token_format: AccessTokenFormat,
    /// The resource servers it may ask tokens for (RFC 8707).
    pub resources: Vec<Resource>,
    /// Takes authorization requests only pushed first (RFC 9126 §6).
    pub require_par: bool,
    /// Gets only DPoP-bound tokens (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// Where it takes logout tokens when a session it signed in through ends (OpenID Connect
    /// Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<LogoutUri>,
    /// Imported with what broke the rules left out: no OAuth flow may use it until an
    /// administrator enables it.
    pub disabled: bool,
    /// The settings file that declares it (`heliogate apply`), if one does.
    pub managed_by: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// What an administrator sets on a client, at registration and at each change: everything
/// but its id, secret and owner.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub spec: ClientSpec,
    pub introspect: bool,
    pub trusted: bool,
    pub pkce_optional: bool,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub signing_alg: SigningAlg,
    pub access_token_format: AccessTokenFormat,
    pub resources: Vec<Resource>,
    pub require_par: bool,
    pub require_dpop: bool,
    pub backchannel_logout_uri: Option<LogoutUri>,
}

#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: ClientId,
    pub secret_hash: Option<SecretHash>,
    pub settings: ClientSettings,
    pub owner: Option<UserName>,
    pub now: UnixTime,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.kind == ClientKind::Public
    }

    pub fn has_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// One security event: who did what, when, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: UnixTime,
    /// What happened, as a dotted name: `user.created`, `login.failed`, `token.issued`…
    pub event: String,
    /// Who did it: a user name, `cli`, or a client id.
    pub actor: Option<String>,
    /// What it was done to: a user name, a client id, a role.
    pub subject: Option<String>,
    pub client_addr: Option<String>,
    pub detail: Value,
}

/// The pool's and the token writer's state, as metrics report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Connections open, of them idle, and the most the pool opens.
    pub pool_open: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    /// Issuances waiting for the token writer, and how many may wait.
    pub queue_depth: u64,
    pub queue_capacity: u64,
    /// Commits by how many issuances they carried: cumulative counts at each upper bound.
    pub batch_buckets: Vec<(u64, u64)>,
    pub batches: u64,
    pub batched_issuances: u64,
}

/// An audit record as stored: its id orders the log (newest has the highest).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// Which audit records to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Each of these acted or was acted on: is the record's actor or its subject.
    pub parties: Vec<String>,
    /// The event's name, exactly.
    pub event: Option<String>,
    /// A family of events: names that start with this (`login.`).
    pub event_prefix: Option<String>,
    /// At or after this time.
    pub since: Option<UnixTime>,
    /// Older than this record (a page's cursor).
    pub before: Option<i64>,
    pub limit: u32,
}

impl AuditEvent {
    /// The event with `key` set in its detail (an object).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if !self.detail.is_object() {
            self.detail = Value::Object(Default::default());
        }
        if let Value::Object(detail) = &mut self.detail {
            detail.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The detail as it is stored: JSON text, written by the serializer directly (`Value`'s
    /// `Display` goes through `fmt`, a write for every token of the text).
    pub fn detail_text(&self) -> String {
        serde_json::to_string(&self.detail).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// An access token to store: only its key (public id and hash) is kept.
#[derive(Debug, Clone)]
pub struct NewAccessToken {
    pub key: TokenKey,
    pub client_id: String,
    /// `None` for a client's own token (client credentials).
    pub user_id: Option<String>,
    /// Space-delimited, canonical.
    pub scope: String,
    /// The refresh-token family it came from, so that revoking the family revokes it.
    pub family_id: Option<String>,
    /// The resource servers it is for (RFC 8707), separated by spaces; `None`: none named.
    pub audience: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6); `None`: a bearer token.
    pub jkt: Option<String>,
    /// For a token issued by exchange (RFC 8693), the key of the token it was first exchanged
    /// from: it ends when that token ends (the store's triggers see to it).
    pub subject_key: Option<TokenKey>,
    /// For a token issued by exchange, who acts (RFC 8693 §4.1 `act`), as JSON.
    pub act: Option<String>,
    /// The sign-in session it was issued through (`sid`): it ends when that session is ended.
    pub sid: Option<String>,
}

/// A stored access token, live or not.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessToken {
    pub client_id: String,
    pub user_id: Option<String>,
    /// The user's name, while the user exists.
    pub username: Option<String>,
    #[sqlx(try_from = "String")]
    pub scope: ScopeSet,
    /// The resource servers it is for (RFC 8707); none: none named.
    #[sqlx(try_from = "Option<String>")]
    pub audience: StoredResources,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// When a personal access token was last used (to the minute); `None` for the others.
    pub last_used_at: Option<UnixTime>,
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6).
    pub jkt: Option<String>,
    /// The key of the token it was exchanged from (RFC 8693), kept as stored.
    pub subject_key: Option<Vec<u8>>,
    /// Who acts, for a token issued by exchange (RFC 8693 §4.1), as JSON.
    pub act: Option<String>,
}

/// The client that personal access tokens are issued to: made by the migrations, found by no
/// client lookup or listing, so no OAuth flow can use it.
pub const PERSONAL_TOKENS_CLIENT: &str = "heliogate-personal-tokens";

/// A personal access token to store: an access token a user made for their own use.
#[derive(Debug, Clone)]
pub struct NewPersonalToken {
    pub key: TokenKey,
    pub user_id: String,
    pub name: String,
    pub scope: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A live personal access token as its user sees it in a list (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    pub key: TokenKey,
    pub name: String,
    pub scope: ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

impl AccessToken {
    /// Live: not revoked and not yet expired at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A sign-in session to store: only the hash of its id is kept.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id_hash: SecretHash,
    pub user_id: String,
    /// The synchronizer token that the session's forms must carry.
    pub csrf_token: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// How the user signed in, as OpenID Connect `amr` values separated by spaces.
    pub amr: String,
}

/// A live session of an enabled user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
    /// How the user signed in (`NewSession::amr`).
    pub amr: String,
}

/// A live session as its user (or an administrator) sees it in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id_hash: SecretHash,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// An authorization code to store (RFC 6749 §4.1.2): only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub hash: SecretHash,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    /// The public id of the sign-in session it was issued in (OpenID Connect `sid`).
    pub sid: Option<String>,
    /// The resources its authorization request named (RFC 8707), separated by spaces.
    pub resources: Option<String>,
    /// How the user signed in (`Session::amr`).
    pub amr: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A code as redeemed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Code {
    pub client_id: String,
    pub user_id: String,
    #[sqlx(try_from = "String")]
    pub redirect_uri: RedirectUri,
    pub redirect_uri_given: bool,
    #[sqlx(try_from = "String")]
    pub scope: ScopeSet,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    pub sid: Option<String>,
    #[sqlx(try_from = "Option<String>")]
    pub resources: StoredResources,
    pub amr: Option<String>,
    pub expires_at: UnixTime,
    /// When it was spent, if it was.
    pub redeemed_at: Option<UnixTime>,
}

/// The one-time grant tokens are issued from, spent in the same transaction as their rows are
/// written (`GrantStore::issue_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTimeGrant {
    /// An authorization code (RFC 6749 §4.1.3), by its hash.
    Code(SecretHash),
    /// An approved device code (RFC 8628 §3.4), by its hash; the tokens' family is recorded
    /// with it, for a replay to revoke.
    DeviceCode(SecretHash),
}

impl OneTimeGrant {
    pub fn hash(&self) -> &SecretHash {
        match self {
            OneTimeGrant::Code(hash) | OneTimeGrant::DeviceCode(hash) => hash,
        }
    }
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code is now spent.
    Redeemed(Box<Code>),
    /// The code was spent before: every token issued from it was revoked (RFC 6749 §4.1.2).
    Replayed {
        revoked: u64,
    },
    Unknown,
}

/// A refresh token to store.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub key: TokenKey,
    /// Shared by every generation of one grant, and by the access tokens they produced.
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    /// When the user signed in for the grant, and that session's `sid`: what a refreshed ID
    /// token repeats.
    pub auth_time: Option<UnixTime>,
    pub sid: Option<String>,
    pub amr: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// A public client's refresh token is bound to its DPoP key (RFC 9449 §5).
    pub jkt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshToken {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    #[sqlx(try_from = "String")]
    pub scope: ScopeSet,
    pub auth_time: Option<UnixTime>,
    pub sid: Option<String>,
    pub amr: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set once it was exchanged for its successor: a second use is a replay.
    pub rotated_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub jkt: Option<String>,
}

/// What revoking a token did (RFC 7009).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    /// The token exists but belongs to another holder: nothing changed.
    NotOwned,
    Unknown,
}

/// An entry of the revocation feed: an access token ended before its expiry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RevokedToken {
    /// The entry's number: entries are numbered in the order their changes committed.
    pub seq: i64,
    /// SHA-256 of the token as its holder presents it.
    pub token_sha256: Vec<u8>,
    /// When the token would have expired: after that, nothing needs to remember it.
    pub expires_at: UnixTime,
}

/// Whose tokens: those issued to a client, or those acting for a user (by the user's id).
#[derive(Debug, Clone, Copy)]
pub enum TokenHolder<'a> {
    Client(&'a ClientId),
    User(&'a str),
}

impl TokenHolder<'_> {
    /// The column of both token tables that names this holder, and its value.
    pub(crate) fn column(&self) -> (&'static str, &str) {
        match self {
            TokenHolder::Client(id) => ("client_id", id.as_str()),
            TokenHolder::User(id) => ("user_id", id),
        }
    }
}

/// An access or a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    /// Its name as RFC 7009's `token_type_hint` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }
}

/// A live token as listed to administrators: what it is, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The key it is stored under (its id and the hash of its value).
    pub key: Vec<u8>,
    pub kind: TokenKind,
    pub client_id: String,
    /// The user it acts for, while the user exists; none for a client's own token.
    pub username: Option<String>,
    pub scope: ScopeSet,
    /// An access token's audience (RFC 8707).
    pub audience: StoredResources,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A user's consent to a client, for the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub client_name: String,
    pub scope: ScopeSet,
    pub updated_at: UnixTime,
    /// The client holds a live refresh token for the user granted with `offline_access`: it
    /// outlives the session it was granted in.
    pub offline: bool,
}

/// A key that signs ID tokens: its private half as PKCS#8 (EC) or PKCS#1 (RSA) DER.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKey {
    pub kid: String,
    /// The JWS algorithm, `RS256` or `ES256`.
    pub alg: String,
    /// 1 for an algorithm's first key, one more at each rotation.
    pub generation: i64,
    pub private_key: Vec<u8>,
    pub created_at: UnixTime,
    /// When it starts signing: until then it is only published.
    pub signs_from: UnixTime,
    /// When it stops being published.
    pub retired_at: Option<UnixTime>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("private_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// A user's authenticator app.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// As stored: sealed under the key-encryption key when one is set.
    pub secret: Vec<u8>,
    /// A first code was given: the factor is in use.
    pub confirmed: bool,
    /// The last step whose code was accepted; none before it is accepted again.
    pub last_step: i64,
    pub created_at: UnixTime,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// A user's passkey or security key (WebAuthn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// The credential id, base64url.
    pub credential_id: String,
    pub user_id: String,
    /// What the user called it.
    pub name: String,
    /// The credential (public key, sign counter) as the WebAuthn library keeps it.
    pub passkey: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// A change to a user, made at once (`UserStore::change_user`): each field given is replaced.
#[derive(Debug, Clone, Default)]
pub struct UserChangeSet {
    /// `Some(None)` clears the address.
    pub email: Option<Option<Email>>,
    pub roles: Option<Vec<RoleName>>,
    pub disabled: Option<bool>,
}

/// An upstream identity provider, as stored: the app reads its settings (`heliogate_core::
/// upstream`) and opens its secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Upstream {
    pub name: String,
    /// `oidc` or `github`.
    pub preset: String,
    pub issuer: String,
    pub client_id: String,
    /// Sealed under the key-encryption key when one is set; none for a public client.
    pub client_secret: Option<Vec<u8>>,
    /// Space-separated.
    pub scopes: String,
    pub display_name: String,
    pub provision: String,
    /// A JSON array of role names.
    pub default_roles: String,
    pub role_claim: Option<String>,
    /// A JSON object from claim value to role name.
    pub role_map: String,
    /// Its `amr`/`acr` is believed about a second factor.
    pub trust_mfa: bool,
    pub managed_by: Option<String>,
    pub created_at: UnixTime,
}

/// An identity at an upstream provider, linked to a heliogate user by (issuer, subject).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UpstreamIdentity {
    pub issuer: String,
    pub subject: String,
    pub upstream: String,
    pub user_id: String,
    /// The address the provider gave at the last sign-in.
    pub email: Option<String>,
    /// A JSON array: the roles the upstream's role map gave at the last sign-in.
    pub mapped_roles: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// What a sign-in through an upstream changes: the identity's record, and the user's roles
/// when the role map moved them.
#[derive(Debug, Clone)]
pub struct UpstreamSignIn<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    /// The roles the role map gives now (a JSON array).
    pub mapped_roles: &'a str,
    /// The user's roles from now on, when they change.
    pub roles: Option<(&'a UserName, &'a [RoleName])>,
    pub now: UnixTime,
}
