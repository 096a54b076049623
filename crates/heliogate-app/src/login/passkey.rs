//! A sign-in with a discoverable passkey alone.

use super::session::start_session;
use super::session::Started;
use super::LoginPolicy;
use super::SignIn;
use crate::audit;
use crate::passkeys;
use crate::passkeys::Passkeys;
use crate::Result;
use heliogate_store::Store;
use webauthn_rs::prelude::PublicKeyCredential;

/// A sign-in with a discoverable passkey alone: with user verification it is two factors.
#[derive(Debug, Clone)]
pub struct PasskeySignIn {
    pub ceremony: String,
    pub credential: Box<PublicKeyCredential>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub replaces: Option<String>,
}

pub async fn sign_in_with_passkey(
    store: &dyn Store,
    policy: &LoginPolicy,
    rp: &Passkeys,
    attempt: PasskeySignIn,
) -> Result<SignIn> {
    let addr = attempt.client_addr.as_deref();
    let Some(user) =
        passkeys::finish_sign_in(store, rp, &attempt.ceremony, &attempt.credential).await?
    else {
        audit(
            store,
            "login.passkey_failed",
            "passkey",
            None,
            addr,
            serde_json::json!({}),
        )
        .await?;
        return Ok(SignIn::Refused { locked: false });
    };
    let started = Started {
        client_addr: attempt.client_addr,
        user_agent: attempt.user_agent,
        replaces: attempt.replaces,
    };
    start_session(store, policy, user, started, "hwk mfa").await
}
