//! Where heliogate keeps its state: the `Store` traits, one per aggregate, and their SQLite and
//! PostgreSQL implementations.
//!
//! The traits offer the operations the server needs, not generic CRUD: whatever must hold
//! together (a user and their roles, "at least one administrator remains", a role that is still
//! held cannot go) is one method that runs in one transaction, so no caller can see or leave a
//! half-made change. The SQL is written once (`sql/`, a file per aggregate) and compiled for
//! each engine on its typed sqlx pool; an engine's own file holds only what differs (how it
//! connects, starts write transactions and writes a batch of tokens), and its own migrations
//! folder has the same numbered names. The backend is chosen by the URL's scheme.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use heliogate_core::{
    Attempt, ClientId, Email, RoleName, Scope, ScopeSet, SecretHash, ThrottlePolicy, TokenKey,
    UnixTime, UserName,
};

pub mod archive;
mod config;
mod error;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod flask_source;
mod flows;
mod issue;
mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
mod proof_writer;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use model::{
    AccessToken, AuditEvent, AuditFilter, AuditRecord, Client, ClientSettings, Code, Consent,
    Credentials, NewAccessToken, NewClient, NewCode, NewPersonalToken, NewRefreshToken, NewSession,
    NewUser, OneTimeGrant, PersonalToken, Redemption, RefreshToken, Revocation, RevokedToken, Role,
    Session, SessionInfo, SigningKey, StoreStats, StoredPasskey, TokenHolder, TokenKind,
    TokenRecord, TotpFactor, Upstream, UpstreamIdentity, UpstreamSignIn, User, UserChangeSet,
    PERSONAL_TOKENS_CLIENT,
};

pub use archive::{ArchiveReader, ArchiveSummary, ArchiveWriter};
pub use config::{ConfigChange, ConfigStep};
pub use error::{Result, StoreError};
pub use flows::{
    DeviceAuthorization, DeviceDecision, LogoutDelivery, NewDeviceAuthorization, PushedRequest,
};

/// Users, their credentials and their roles.
#[async_trait]
pub trait UserStore {
    /// Creates a user with their roles; `Conflict` when the name is taken, `NotFound` when a
    /// role does not exist.
    async fn create_user(&self, user: &NewUser, event: &AuditEvent) -> Result<User>;
    async fn user_by_name(&self, name: &UserName) -> Result<Option<User>>;
    async fn user_by_id(&self, id: &str) -> Result<Option<User>>;
    /// The user with this id as they stand now, with the scopes their roles hold now, in one
    /// read: what a grant that issues for a user checks.
    async fn user_with_scopes(&self, id: &str) -> Result<Option<(User, ScopeSet)>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Users by name, after `after`, whose names start with `prefix`, at most `limit`.
    async fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<User>>;
    /// What a sign-in needs: the user (with their roles) and the PHC hash, read together.
    async fn credentials(&self, name: &UserName) -> Result<Option<Credentials>>;
    /// Replaces a user's roles; `Conflict` when that would leave no administrator.
    async fn set_user_roles(
        &self,
        name: &UserName,
        roles: &[RoleName],
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
    /// Sets a user's password hash and ends their sessions, all but `keep` (the session of a
    /// user who changes their own password), in one transaction.
    async fn set_password_hash(
        &self,
        name: &UserName,
        hash: &str,
        now: UnixTime,
        keep: Option<&SecretHash>,
        event: &AuditEvent,
    ) -> Result<()>;
    /// Replaces a password hash carried over from another system by `hash` (the same
    /// password), only if the user still has `legacy`; nothing else changes (sessions and
    /// tokens stay). `false` when the hash was already replaced.
    async fn upgrade_password_hash(
        &self,
        user_id: &str,
        legacy: &str,
        hash: &str,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// Disables or enables a user; disabling the last administrator is a `Conflict`.
    async fn set_disabled(
        &self,
        name: &UserName,
        disabled: bool,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
    /// Sets or clears a user's email address.
    async fn set_email(
        &self,
        name: &UserName,
        email: Option<&Email>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
    /// Deletes a user with their tokens, codes, consents and sessions; deleting the last
    /// administrator is a `Conflict`.
    /// Changes a user's email, roles and status together, if the user is unchanged since it
    /// was read at `read_at` (its `updated_at` then): `false`, and nothing written, when
    /// another change came between. Every change moves `updated_at` on, by a second at least.
    async fn change_user(
        &self,
        name: &UserName,
        change: &UserChangeSet,
        read_at: UnixTime,
        now: UnixTime,
        events: &[AuditEvent],
    ) -> Result<bool>;
    async fn delete_user(&self, name: &UserName, event: &AuditEvent) -> Result<()>;
}

/// Roles: named sets of scopes.
#[async_trait]
pub trait RoleStore {
    async fn list_roles(&self) -> Result<Vec<Role>>;
    async fn create_role(
        &self,
        name: &RoleName,
        scopes: &[Scope],
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<Role>;
    /// Replaces a role's scopes; `Conflict` when that would leave no administrator.
    async fn set_role_scopes(
        &self,
        name: &RoleName,
        scopes: &[Scope],
        event: &AuditEvent,
    ) -> Result<Role>;
    /// Changes a role's scopes and whether it requires a second factor together, if the role
    /// is still as `read` shows it: `false`, and nothing written, when another change came
    /// between. `Conflict` when it would leave no administrator.
    async fn change_role(
        &self,
        name: &RoleName,
        read: &Role,
        scopes: Option<&[Scope]>,
        mfa_required: Option<bool>,
        events: &[AuditEvent],
    ) -> Result<bool>;
    /// Deletes a role; `Conflict` while any user holds it.
    async fn delete_role(&self, name: &RoleName, event: &AuditEvent) -> Result<()>;
    /// Every scope some role holds: with the OpenID Connect scopes, the scopes the server knows.
    async fn role_scopes(&self) -> Result<ScopeSet>;
    /// What each described scope allows, in words, by scope.
    async fn scope_descriptions(&self) -> Result<Vec<(String, String)>>;
    /// Sets what `scope` allows in words, or (`None`) forgets it.
    async fn set_scope_description(
        &self,
        scope: &Scope,
        description: Option<&str>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
}

/// OAuth 2 clients.
#[async_trait]
pub trait ClientStore {
    async fn create_client(&self, client: &NewClient, event: &AuditEvent) -> Result<Client>;
    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>>;
    async fn list_clients(&self) -> Result<Vec<Client>>;
    /// Up to `limit` clients by name (then id), after the client `after`; only `owner`'s when
    /// given.
    async fn clients_page(
        &self,
        owner: Option<&UserName>,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>>;
    /// Deletes a client with every code, token and consent it holds.
    async fn delete_client(&self, client_id: &ClientId, event: &AuditEvent) -> Result<()>;
    /// Lets a disabled client be used again; `false` (and nothing recorded) when it was not
    /// disabled, `NotFound` when there is no such client.
    async fn enable_client(
        &self,
        client_id: &ClientId,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool>;
    async fn set_client_secret(
        &self,
        client_id: &ClientId,
        hash: &SecretHash,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
    /// Replaces a client's settings if it is unchanged since it was read at `read_at` (its
    /// `updated_at` then): `false`, and nothing written, when another change came between.
    /// Every change moves `updated_at` forward, by a second at least, so that none goes
    /// unseen.
    async fn update_client(
        &self,
        client_id: &ClientId,
        settings: &ClientSettings,
        read_at: UnixTime,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool>;
}

/// Everything an import from another system brings, written at once.
#[derive(Debug, Default)]
pub struct ImportBatch {
    pub users: Vec<NewUser>,
    /// The names of users who come disabled.
    pub disabled_users: Vec<String>,
    pub clients: Vec<NewClient>,
    /// The ids of clients that come disabled.
    pub disabled_clients: Vec<String>,
    pub access_tokens: Vec<NewAccessToken>,
    pub refresh_tokens: Vec<NewRefreshToken>,
}

/// How many of each an import wrote (the rest were there already).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    pub users: u64,
    pub clients: u64,
    pub access_tokens: u64,
    pub refresh_tokens: u64,
}

/// Imports from another system.
#[async_trait]
pub trait ImportStore {
    /// Writes what is not there yet — users by name, clients by id, tokens by key — with the
    /// event (and the counts in its detail), in one transaction, all or nothing; what exists
    /// stays as it is. `progress` is told how many of the batch's rows (users, clients, refresh
    /// and access tokens, in that order) have been written, as the transaction goes on.
    async fn import(
        &self,
        batch: &ImportBatch,
        event: &AuditEvent,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts>;
}

/// Issued tokens.
#[async_trait]
pub trait TokenStore {
    /// The token with this key, live or not.
    async fn access_token(&self, key: &TokenKey) -> Result<Option<AccessToken>>;
    /// Revokes every live access and refresh token acting for a user; returns how many (also
    /// recorded as `revoked` in the event's detail).
    async fn revoke_user_tokens(
        &self,
        user_id: &str,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64>;
    /// Revokes every live access and refresh token issued to a client; returns how many (also
    /// recorded as `revoked` in the event's detail).
    async fn revoke_client_tokens(
        &self,
        client_id: &ClientId,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64>;
    /// Deletes expired codes and tokens, and revoked ones past their expiry; returns how many.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64>;
    /// A holder's live access and refresh tokens (a refresh token already exchanged is not
    /// live), by key, after the key `after` (empty for the first page), at most `limit`.
    async fn live_tokens(
        &self,
        holder: TokenHolder<'_>,
        now: UnixTime,
        after: &[u8],
        limit: u32,
    ) -> Result<Vec<TokenRecord>>;
    /// The revocation feed: access tokens ended before their expiry, whatever ended them
    /// (revocation, a disabled or deleted user, a deleted client, a withdrawn consent), still
    /// unexpired at `now`, numbered after `after` (0 for all), oldest first, at most `limit`.
    /// Every entry numbered below the last one returned has committed: a reader that goes on
    /// after it misses none.
    async fn revoked_after(
        &self,
        after: i64,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<RevokedToken>>;
    /// Stores a personal access token of `token.user_id`, issued to `PERSONAL_TOKENS_CLIENT`.
    async fn create_personal_token(
        &self,
        token: &NewPersonalToken,
        event: &AuditEvent,
    ) -> Result<()>;
    /// A user's live personal access tokens, the newest first.
    async fn personal_tokens(&self, user_id: &str, now: UnixTime) -> Result<Vec<PersonalToken>>;
    /// Marks a personal access token used at `now`.
    async fn personal_token_used(&self, key: &TokenKey, now: UnixTime) -> Result<()>;
}

/// Authorization codes, refresh tokens, token issuance and revocation, and consents: what the
/// OAuth 2 flows change, each change that must be atomic in one method.
#[async_trait]
pub trait GrantStore {
    async fn insert_code(&self, code: &NewCode) -> Result<()>;
    /// A code as stored, spent or not (`redeemed_at`), with its user as the user stands now
    /// (read in the same statement: a code goes with its user); reading it spends nothing.
    async fn authorization_code(&self, hash: &SecretHash) -> Result<Option<(Code, User)>>;
    /// Spends a code and returns it; a code spent before revokes every token issued from it
    /// (`issue_from`: the family its spending recorded on it), and `replayed` is recorded
    /// then, with the count as `revoked` in its detail.
    async fn redeem_code(
        &self,
        hash: &SecretHash,
        now: UnixTime,
        replayed: &AuditEvent,
    ) -> Result<Redemption>;
    /// Stores an access token and, with it, a refresh token and the audit record of the
    /// issuance, in one transaction. Returns once the write is durable.
    async fn issue_tokens(
        &self,
        access: NewAccessToken,
        refresh: Option<NewRefreshToken>,
        event: Option<AuditEvent>,
    ) -> Result<()>;
    /// As `issue_tokens`, for tokens issued from `grant`, which the same transaction spends:
    /// `false`, and nothing written, when it was spent already or is not there to spend (a
    /// replay, which the caller then answers). A grant is thus spent exactly when its tokens
    /// are durable, and whoever finds it spent finds them.
    async fn issue_from(
        &self,
        grant: OneTimeGrant,
        access: NewAccessToken,
        refresh: Option<NewRefreshToken>,
        event: Option<AuditEvent>,
    ) -> Result<bool>;
    async fn refresh_token(&self, key: &TokenKey) -> Result<Option<RefreshToken>>;
    /// Exchanges a refresh token for its successor and a new access token, once: `false`
    /// (and the whole family revoked, recorded as `replayed` with the count as `revoked`) when
    /// it was already exchanged or revoked: the loser of two concurrent uses is a replay.
    async fn rotate_refresh(
        &self,
        old: &TokenKey,
        access: &NewAccessToken,
        refresh: &NewRefreshToken,
        now: UnixTime,
        event: Option<&AuditEvent>,
        replayed: &AuditEvent,
    ) -> Result<bool>;
    /// Revokes every refresh and access token of a family; returns how many (also recorded as
    /// `revoked` in the event's detail).
    async fn revoke_family(
        &self,
        family_id: &str,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<u64>;
    /// Revokes the access or refresh token with this key if it is `holder`'s; a refresh
    /// token takes its family with it. The event is recorded when a token was revoked.
    async fn revoke_token(
        &self,
        key: &TokenKey,
        holder: TokenHolder<'_>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<Revocation>;
    async fn consent(&self, user_id: &str, client_id: &ClientId) -> Result<Option<ScopeSet>>;
    /// Records the scopes a user consented to for a client (replacing what was there).
    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
    /// A user's consents, by client name; whether each client holds offline access at `now`.
    async fn consents(&self, user_id: &str, now: UnixTime) -> Result<Vec<Consent>>;
    /// Withdraws a consent and revokes every token the client holds for the user; whether
    /// there was anything to withdraw (and the event is recorded only then).
    async fn revoke_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool>;
}

/// Sign-in sessions, shared by every node.
#[async_trait]
pub trait SessionStore {
    async fn create_session(&self, session: &NewSession, event: &AuditEvent) -> Result<()>;
    /// The session with this id hash, if it is live at `now` and its user exists and is enabled.
    async fn session(&self, id_hash: &SecretHash, now: UnixTime) -> Result<Option<Session>>;
    /// Records use of a session and moves its end.
    async fn touch_session(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()>;
    async fn delete_session(&self, id_hash: &SecretHash, event: &AuditEvent) -> Result<()>;
    /// Ends every session of a user but `keep`; returns how many ended.
    async fn delete_other_sessions(&self, user_id: &str, keep: &SecretHash) -> Result<u64>;
    /// A user's live sessions, the most recently used first.
    async fn user_sessions(&self, user_id: &str, now: UnixTime) -> Result<Vec<SessionInfo>>;
    /// Ends one of `user_id`'s sessions; `false` when they have no such session.
    async fn end_session(
        &self,
        user_id: &str,
        id_hash: &SecretHash,
        event: &AuditEvent,
    ) -> Result<bool>;
}

/// Sign-in attempt counters, per key (`user:NAME`, `addr:IP`), shared by every node. An
/// attempt is counted before its password is checked, in one statement with the check of the
/// lock, so that parallel guesses cannot all pass the check before the first one counts.
#[async_trait]
pub trait LoginThrottleStore {
    /// Counts an attempt against `key` as `policy.count_attempt` decides with `threshold`,
    /// atomically: read, decision and write hold the key's row.
    async fn reserve_login_attempt(
        &self,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
        threshold: i64,
    ) -> Result<Attempt>;
    /// Takes back an attempt that turned out not to be a wrong password (it succeeded, or was
    /// never checked), and the hold it took if `held`.
    async fn release_login_attempt(&self, key: &str, held: bool) -> Result<()>;
    async fn lock_login(&self, key: &str, until: UnixTime) -> Result<()>;
    async fn clear_login_failures(&self, key: &str) -> Result<()>;
    /// Deletes the counters of keys idle since before `idle_before` and not locked at `now`:
    /// every name ever tried would otherwise keep a row. Returns how many.
    async fn purge_login_counters(&self, idle_before: UnixTime, now: UnixTime) -> Result<u64>;
}

/// The audit log of security events. A method that changes something takes the record of the
/// change and writes it in the same transaction, so that no change goes unrecorded and no
/// record claims a change that did not happen; `record` is for events that change nothing
/// else (a refused sign-in, a failed client authentication).
#[async_trait]
pub trait AuditStore {
    async fn record(&self, event: &AuditEvent) -> Result<()>;
    /// Deletes the records older than `before` (the retention), oldest first in short
    /// transactions. Returns how many.
    async fn purge_audit(&self, before: UnixTime) -> Result<u64>;
    /// The newest events first.
    async fn recent_events(&self, limit: u32) -> Result<Vec<AuditEvent>>;
    /// The records `filter` asks for, newest first. Records are found by walking the log
    /// back from the newest (or from `filter.before`): no index serves the filters, so that
    /// recording stays cheap on the issuance path.
    async fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
}

/// The keys that sign ID tokens, shared by every node.
#[async_trait]
pub trait KeyStore {
    /// The keys not retired at `now`, by algorithm and then generation.
    async fn signing_keys(&self, now: UnixTime) -> Result<Vec<SigningKey>>;
    /// Adds a key unless its algorithm already has a key of its generation (another node made
    /// it first); returns whether it did.
    async fn add_signing_key(&self, key: &SigningKey, event: &AuditEvent) -> Result<bool>;
    /// Every key, retired ones too, by algorithm and generation (for `key list`).
    async fn all_signing_keys(&self) -> Result<Vec<SigningKey>>;
    /// Adds `next`, the next generation of its algorithm, and retires every earlier key of that
    /// algorithm still published at `retire_at`, in one transaction. `Conflict` when another
    /// rotation took that generation first.
    async fn rotate_signing_key(
        &self,
        next: &SigningKey,
        retire_at: UnixTime,
        event: &AuditEvent,
    ) -> Result<()>;
}

/// Second factors: an authenticator app, recovery codes, the half-signed-in state between the
/// password and the second factor, and the roles that require one.
#[async_trait]
pub trait FactorStore {
    /// A user's authenticator app, confirmed or not.
    async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>>;
    /// Starts enrolling an authenticator app: keeps `secret`, unconfirmed, in place of an
    /// unconfirmed one. `Conflict` when the user has a confirmed one.
    async fn begin_totp(&self, user_id: &str, secret: &[u8], now: UnixTime) -> Result<()>;
    /// Confirms the unconfirmed authenticator with the step of its first code; whether it did.
    async fn confirm_totp(&self, user_id: &str, step: i64, event: &AuditEvent) -> Result<bool>;
    /// Uses a confirmed authenticator's `step` if it is later than the last one used: whether
    /// it was. Of two nodes given one code at once, one succeeds.
    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool>;
    /// Replaces a user's recovery codes with these (the old ones stop working).
    async fn set_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[SecretHash],
        event: &AuditEvent,
    ) -> Result<()>;
    /// Uses a recovery code: whether it was the user's and unused (and it is used now). The
    /// event is recorded only then.
    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &SecretHash,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// How many unused recovery codes a user has.
    async fn recovery_codes_left(&self, user_id: &str) -> Result<u32>;
    /// Removes a user's authenticator and recovery codes; whether there was anything.
    async fn reset_factors(&self, user_id: &str, event: &AuditEvent) -> Result<bool>;
    /// Whether any role of the user requires a second factor.
    async fn mfa_required(&self, user_id: &str) -> Result<bool>;
    async fn set_role_mfa(&self, role: &RoleName, required: bool, event: &AuditEvent)
        -> Result<()>;
    /// A user's passkeys, oldest first.
    async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>>;
    /// The passkey with this credential id, whoever's it is.
    async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>>;
    /// Adds a passkey; `Conflict` when its credential is registered already.
    async fn add_passkey(&self, passkey: &StoredPasskey, event: &AuditEvent) -> Result<()>;
    /// Records a use: the credential as updated (its sign counter), and when.
    async fn passkey_used(&self, credential_id: &str, passkey: &str, now: UnixTime) -> Result<()>;
    /// Removes one of a user's passkeys; whether it was theirs.
    async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// Keeps a WebAuthn ceremony's state until `expires_at`.
    async fn put_challenge(
        &self,
        id_hash: &SecretHash,
        user_id: Option<&str>,
        state: &str,
        expires_at: UnixTime,
    ) -> Result<()>;
    /// Takes a ceremony's state, once: its user and state, while it lasts.
    async fn take_challenge(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<(Option<String>, String)>>;
    /// Records a sign-in whose first step (`amr`: a password, an upstream) passed and whose
    /// second factor is pending.
    async fn create_mfa_pending(
        &self,
        id_hash: &SecretHash,
        user_id: &str,
        amr: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()>;
    /// The user a pending sign-in is for and how its first step went, while it lasts.
    async fn mfa_pending(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<(String, String)>>;
    async fn delete_mfa_pending(&self, id_hash: &SecretHash) -> Result<()>;
}

/// Device authorizations (RFC 8628), shared by every node: the device polls one node while
/// its user approves on another.
#[async_trait]
pub trait DeviceStore {
    /// Stores a new device authorization unless its client has `max_pending` live ones
    /// waiting already (`false`: slow down). `Conflict` when the user code is taken (the
    /// caller draws another).
    async fn create_device_authorization(
        &self,
        new: &NewDeviceAuthorization,
        max_pending: u32,
    ) -> Result<bool>;
    /// The live, pending authorization with this user code.
    async fn pending_device_authorization(
        &self,
        user_code_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>>;
    /// Records the user's answer if the authorization is still live and pending, with the
    /// event; whether it was.
    async fn decide_device_authorization(
        &self,
        user_code_hash: &SecretHash,
        decision: &DeviceDecision<'_>,
        now: UnixTime,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// The authorization with this device code, in any state.
    async fn device_authorization(
        &self,
        device_code_hash: &SecretHash,
    ) -> Result<Option<DeviceAuthorization>>;
    /// What a poll of the token endpoint reads, in one statement: the authorization with this
    /// device code, in any state, with the user who approved it as they stand now and the
    /// scopes their roles hold now (none before anyone approved it).
    async fn device_poll(
        &self,
        device_code_hash: &SecretHash,
    ) -> Result<Option<(DeviceAuthorization, Option<(User, ScopeSet)>)>>;
    /// Records a poll at `now` and the interval the device is to keep from now on.
    async fn record_device_poll(
        &self,
        device_code_hash: &SecretHash,
        now: UnixTime,
        interval: i64,
    ) -> Result<()>;
}

/// Pushed authorization requests (RFC 9126), shared by every node.
#[async_trait]
pub trait PushedRequestStore {
    async fn push_request(
        &self,
        request_hash: &SecretHash,
        client_id: &ClientId,
        params: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()>;
    /// The request with this hash while it is live and unused.
    async fn pushed_request(
        &self,
        request_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<PushedRequest>>;
    /// Records that the session `sid` was sent to sign in afresh for a request.
    async fn mark_pushed_sign_in_stale(&self, request_hash: &SecretHash, sid: &str) -> Result<()>;
    /// Uses a request, once: whether it was live and unused.
    async fn use_pushed_request(&self, request_hash: &SecretHash, now: UnixTime) -> Result<bool>;
}

/// DPoP proofs seen (RFC 9449 §11.1), shared by every node.
#[async_trait]
pub trait ProofStore {
    /// Records a proof until `expires_at`: `false` when it was seen before (a replay).
    async fn use_proof(&self, proof_hash: &SecretHash, expires_at: UnixTime) -> Result<bool>;
}

/// Back-channel logouts waiting for delivery, queued by the store itself when a live session
/// ends (whichever way: sign-out, an administrator, the user disabled or deleted) and sent by
/// any node: a claim leases a delivery, so that two nodes never send it at once.
#[async_trait]
pub trait LogoutStore {
    /// Takes up to `limit` deliveries due at `now` that no node holds, leases each until
    /// `lease_until` and counts the attempt.
    async fn claim_logouts(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> Result<Vec<LogoutDelivery>>;
    /// A delivery done with (delivered, or given up), and its record.
    async fn finish_logout(&self, id: i64, event: &AuditEvent) -> Result<()>;
    /// A failed attempt: tried again from `next_attempt_at`.
    async fn retry_logout(
        &self,
        id: i64,
        next_attempt_at: UnixTime,
        error: &str,
        event: &AuditEvent,
    ) -> Result<()>;
    /// How many deliveries wait.
    async fn pending_logouts(&self) -> Result<u64>;
}

/// The whole database as an archive (`archive`): written from one snapshot while servers
/// run, loaded into an empty database of either engine.
#[async_trait]
pub trait ArchiveStore {
    /// Writes every table to `out`, as one snapshot read at `now`.
    async fn backup(&self, out: ArchiveWriter<'_>, now: UnixTime) -> Result<ArchiveSummary>;
    /// Loads an archive (found whole by `archive::verify` first) into this database, which
    /// must be empty and at the archive's schema version: all of it, or nothing.
    async fn restore(&self, input: &mut ArchiveReader<'_>) -> Result<ArchiveSummary>;
}

/// What a settings file declares, made so in one transaction (`heliogate apply`).
#[async_trait]
pub trait ConfigStore {
    /// Carries out every step, each recorded with its event, or none; refuses to leave no
    /// enabled administrator where there was one.
    async fn apply_config(&self, steps: &[ConfigStep], now: UnixTime) -> Result<()>;
}

/// Upstream identity providers and the identities linked through them.
#[async_trait]
pub trait UpstreamStore {
    /// `Conflict` when the name is taken.
    async fn create_upstream(&self, upstream: &Upstream, event: &AuditEvent) -> Result<()>;
    async fn upstream(&self, name: &str) -> Result<Option<Upstream>>;
    async fn list_upstreams(&self) -> Result<Vec<Upstream>>;
    /// Deletes an upstream and the links through it; `NotFound` when there is none.
    async fn delete_upstream(&self, name: &str, event: &AuditEvent) -> Result<()>;
    async fn upstream_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UpstreamIdentity>>;
    /// A user's linked identities, oldest first.
    async fn user_identities(&self, user_id: &str) -> Result<Vec<UpstreamIdentity>>;
    /// Links an identity to a user; `Conflict` when it is linked already (to anyone).
    async fn link_identity(&self, identity: &UpstreamIdentity, event: &AuditEvent) -> Result<()>;
    /// Makes a user and links the identity to them, together; `Conflict` when the name is
    /// taken or the identity linked.
    async fn provision_user(
        &self,
        user: &NewUser,
        identity: &UpstreamIdentity,
        event: &AuditEvent,
    ) -> Result<User>;
    /// Unlinks one of a user's identities; `false` when it was not theirs.
    async fn unlink_identity(
        &self,
        user_id: &str,
        issuer: &str,
        subject: &str,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// Records a sign-in through an identity and, when the role map moved them, sets the
    /// user's roles (under the authority rules: a role lost ends what it gave), in one
    /// transaction. `event` is recorded when roles change.
    async fn upstream_signed_in(
        &self,
        sign_in: &UpstreamSignIn<'_>,
        event: &AuditEvent,
    ) -> Result<()>;
    /// The users whose address is `email` (compared without regard to case).
    async fn users_with_email(&self, email: &str) -> Result<Vec<User>>;
}

/// Everything the server keeps, behind one object.
#[async_trait]
pub trait Store:
    UserStore
    + RoleStore
    + ClientStore
    + TokenStore
    + GrantStore
    + SessionStore
    + LoginThrottleStore
    + AuditStore
    + KeyStore
    + FactorStore
    + ImportStore
    + DeviceStore
    + PushedRequestStore
    + ProofStore
    + LogoutStore
    + ArchiveStore
    + ConfigStore
    + UpstreamStore
    + Send
    + Sync
{
    /// Applies pending migrations; refuses a schema newer than this binary.
    async fn migrate(&self) -> Result<()>;
    /// Answers whether the database is reachable now.
    async fn ping(&self) -> Result<()>;
    /// The schema version the database has (0: none yet) and the newest this binary knows.
    async fn schema_version(&self) -> Result<(i64, i64)>;
    /// The database server's clock (the one its triggers read).
    async fn database_time(&self) -> Result<UnixTime>;
    /// The pool's and the token writer's state now, for metrics; reads counters only.
    fn stats(&self) -> StoreStats;
    /// Creates `admin` once in the life of a database, if it has no users at that moment, and
    /// records the event then. Returns whether it did. Safe when several nodes start at once.
    async fn bootstrap_admin(&self, admin: &NewUser, event: &AuditEvent) -> Result<bool>;
    /// A fact about this installation (`instance` table), such as the issuer it is served as.
    async fn instance_value(&self, key: &str) -> Result<Option<String>>;
    async fn set_instance_value(&self, key: &str, value: &str) -> Result<()>;
    /// The value of `key`, recording `value` first when there is none: of nodes starting at
    /// once with different values, all get the one recorded first.
    async fn instance_value_or(&self, key: &str, value: &str) -> Result<String>;
    /// Closes the pool, waiting for connections in use.
    async fn close(&self);
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// How long a request waits for a connection before the store answers `Unavailable`.
    pub acquire_timeout: Duration,
    pub max_connections: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(3),
            max_connections: 16,
        }
    }
}

/// Why a database URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnknownScheme(String),
    #[error("this heliogate was built without the {0} backend")]
    NotCompiled(&'static str),
    #[error("cannot open the database")]
    Open(#[source] StoreError),
}

/// Opens the store a URL names, without migrating it.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Arc<dyn Store>, ConnectError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" => {
            #[cfg(feature = "sqlite")]
            return Ok(Arc::new(
                sqlite::SqliteStore::open(url, options)
                    .await
                    .map_err(ConnectError::Open)?,
            ));
            #[cfg(not(feature = "sqlite"))]
            return Err(ConnectError::NotCompiled("sqlite"));
        }
        "postgres" | "postgresql" => {
            #[cfg(feature = "postgres")]
            return Ok(Arc::new(
                postgres::PgStore::open(url, options)
                    .await
                    .map_err(ConnectError::Open)?,
            ));
            #[cfg(not(feature = "postgres"))]
            return Err(ConnectError::NotCompiled("postgres"));
        }
        _ => Err(ConnectError::UnknownScheme(redact_url(url))),
    }
}

/// A URL with any password replaced, fit for messages and logs: the user info's password
/// (up to the last `@` before the query, so a password holding `@` or `/` is redacted whole)
/// and a `password` or `sslpassword` query parameter.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let before_query = rest.split('?').next().unwrap_or_default();
    let rest = match before_query.rfind('@') {
        Some(at) => {
            let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:[redacted]@{host}"),
                None => rest.to_owned(),
            }
        }
        None => rest.to_owned(),
    };
    let redacted = match rest.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _))
                        if key.eq_ignore_ascii_case("password")
                            || key.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{key}=[redacted]")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => rest,
    };
    format!("{scheme}://{redacted}")
}

/// A schema newer than this binary is a conflict to report plainly, not an outage.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::Conflict(format!(
            "the database has schema version {version}, newer than this heliogate knows: upgrade heliogate"
        )),
        sqlx::migrate::MigrateError::Execute(e) => error::db_err(e),
        e => StoreError::internal(e),
    }
}

/// Joins a list for a text column.
pub(crate) fn join(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a text column written by `join`.
pub(crate) fn split(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn email_str(email: &Option<Email>) -> Option<&str> {
    email.as_ref().map(Email::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:[redacted]@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn a_password_is_redacted_in_every_form_a_url_carries_it() {
        for (url, want) in [
            ("postgres://u:p@ss@h/db", "postgres://u:[redacted]@h/db"),
            (
                "postgres://u:pa/s@s@h:5432/db",
                "postgres://u:[redacted]@h:5432/db",
            ),
            (
                "postgres://u@h/db?sslmode=disable&password=hunter2",
                "postgres://u@h/db?sslmode=disable&password=[redacted]",
            ),
            (
                "postgresql://h/db?PASSWORD=hunter2&user=u",
                "postgresql://h/db?PASSWORD=[redacted]&user=u",
            ),
            ("sqlite://heliogate.db", "sqlite://heliogate.db"),
        ] {
            let redacted = redact_url(url);
            assert_eq!(redacted, want);
            assert!(!redacted.contains("hunter2") && !redacted.contains("ss@"));
        }
    }

    #[test]
    fn both_engines_have_the_same_migrations() {
        let names = |dir: &str| -> Vec<String> {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut names: Vec<String> = std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert!(!names("sqlite").is_empty());
        assert_eq!(names("sqlite"), names("postgres"));
    }
}
