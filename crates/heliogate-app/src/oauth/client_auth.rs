//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! §2.3): `client_secret_basic` or `client_secret_post` for confidential clients, `none` for
//! public ones, and exactly one method per request.

use crate::oauth::OAuthState;
use crate::scopes::usable_client;
use heliogate_core::oauth::{OAuthError, OAuthErrorCode};
use heliogate_core::ClientId;
use std::sync::Arc;

use heliogate_store::{Client, Store};

use super::{audit, OAuthResult};

/// The credentials a request carried, as the HTTP layer found them.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic`, already form-decoded (RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    /// `client_id` in the body.
    pub client_id: Option<String>,
    /// `client_secret` in the body.
    pub client_secret: Option<String>,
}

/// Who the client proved to be.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    /// Whether it proved it with a secret (a confidential client).
    pub confidential: bool,
}

/// What the audit log records for a client id that no client can have.
const MALFORMED_ID: &str = "-";

fn invalid_client() -> OAuthError {
    OAuthError::invalid_client("client authentication failed")
}

/// Authenticates the client of a request. Failures are audited and all look alike.
pub async fn authenticate(
    store: &dyn Store,
    config: &OAuthState,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<AuthenticatedClient> {
    let (client_id, secret) = match (
        &credentials.basic,
        &credentials.client_id,
        &credentials.client_secret,
    ) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use exactly one client authentication method",
            )
            .into());
        }
        (Some((id, _)), Some(body_id), None) if id != body_id => {
            return Err(OAuthError::invalid_request(
                "client_id does not match the authenticated client",
            )
            .into());
        }
        (Some((id, secret)), _, None) => (id.as_str(), Some(secret.as_str())),
        (None, Some(id), secret) => (id.as_str(), secret.as_deref()),
        (None, None, _) => return Err(invalid_client().into()),
    };
    // The cache is asked first: a hit, the common case, parses and copies nothing.
    let client = match config.clients.get(client_id) {
        Some(client) => Some(client),
        None => match ClientId::parse(client_id) {
            // An id that cannot be any client's is refused like an unknown one.
            Err(_) => None,
            Ok(id) => {
                let client = usable_client(store, &id).await?.map(Arc::new);
                if let Some(client) = &client {
                    config
                        .clients
                        .insert(client_id.to_owned(), Arc::clone(client));
                }
                client
            }
        },
    };
    let outcome = match (&client, secret) {
        (Some(c), Some(secret)) => match &c.secret_hash {
            Some(hash) => hash.matches(secret).then_some(true),
            None => None,
        },
        // A public client authenticates with its id alone; a confidential one never does.
        (Some(c), None) if c.is_public() => Some(false),
        _ => {
            // Spend the hash anyway, so that an unknown id is not faster to refuse.
            let _ = heliogate_core::SecretHash::of(secret.unwrap_or_default());
            None
        }
    };
    match (client, outcome) {
        (Some(client), Some(confidential)) => Ok(AuthenticatedClient {
            client,
            confidential,
        }),
        _ => {
            // Only an id that could be a client's is written down: anything else (a NUL byte,
            // 400 KiB in a Basic header) is the sender's input, not a name to keep.
            let (actor, detail) = match ClientId::parse(client_id) {
                Ok(_) => (client_id, serde_json::json!({})),
                Err(_) => (
                    MALFORMED_ID,
                    serde_json::json!({ "malformed_client_id": true }),
                ),
            };
            audit(
                store,
                "client.auth_failed",
                actor,
                Some(actor),
                addr,
                detail,
            )
            .await?;
            Err(OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "client authentication failed",
            )
            .into())
        }
    }
}
