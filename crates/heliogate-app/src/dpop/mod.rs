//! DPoP (RFC 9449) at heliogate: the proof that binds a token request to a key (§5), and the
//! proof that goes with every presentation of a bound token (§7). The proof itself is checked
//! by `heliogate_dpop`, the one check the guard runs too; here are what needs the server: the
//! nonces (§8), and the memory of proofs seen, shared by every node (§11.1).

pub mod nonce;

use std::sync::Arc;

use heliogate_core::oauth::{OAuthError, OAuthErrorCode};
use heliogate_core::SecretHash;
use heliogate_dpop::{Expected, Proof};
use heliogate_store::{Client, Store};

use crate::now;
use crate::oauth::{ActiveToken, OAuthResult, OAuthState};

fn invalid_proof(description: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidDpopProof, description)
}

/// Records a proof as used: `false` when any node saw it before.
async fn first_use(store: &dyn Store, proof: &Proof) -> OAuthResult<bool> {
    Ok(store
        .use_proof(&SecretHash::of(&proof.replay_key()), proof.expires_at())
        .await?)
}

/// The key a token request's proof binds its tokens to (§5): `None` without a proof, unless
/// the client must send one (`client add --require-dpop`). With a nonce key configured (every
/// server), the proof must carry a nonce of ours (§8): `use_dpop_nonce` tells the client to
/// send it again with the one in the answer's `DPoP-Nonce` header.
pub async fn token_request_key(
    store: &dyn Store,
    config: &OAuthState,
    client: &Client,
    proof: Option<&str>,
) -> OAuthResult<Option<String>> {
    let Some(proof) = proof else {
        if client.require_dpop {
            return Err(invalid_proof("this client must send a DPoP proof").into());
        }
        return Ok(None);
    };
    let now = now();
    let uri = format!("{}/oauth/token", config.issuer);
    let expected = Expected {
        method: "POST",
        uri: &uri,
        access_token: None,
        now,
    };
    let checked =
        heliogate_dpop::verify(proof, &expected).map_err(|e| invalid_proof(e.to_string()))?;
    if let Some(key) = &config.nonce_key {
        let fresh = checked
            .nonce
            .as_deref()
            .is_some_and(|n| nonce::valid(key, n, now));
        if !fresh {
            return Err(OAuthError::new(
                OAuthErrorCode::UseDpopNonce,
                "send the DPoP proof again with the nonce of the DPoP-Nonce header",
            )
            .into());
        }
    }
    if !first_use(store, &checked).await? {
        return Err(invalid_proof("the DPoP proof was used before").into());
    }
    Ok(Some(checked.jkt))
}

/// How a token came with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer`, or a parameter (RFC 6750 §2).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// An access token as a request presented it, with what its proof must match.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub token: &'a str,
    pub scheme: Scheme,
    /// The `DPoP` header.
    pub proof: Option<&'a str>,
    pub method: &'a str,
    /// The request's path (and query), from the root of the issuer.
    pub path: &'a str,
}

/// Why a live token was not accepted as presented: a `invalid_token` or `invalid_dpop_proof`
/// (RFC 9449 §7.1), with its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: OAuthErrorCode,
    pub description: String,
}

/// Checks that a live token was presented as its binding asks (§7): a bound token only as
/// `DPoP` with a fresh proof of its key for this request; an unbound one only as `Bearer`.
pub async fn check_presentation(
    store: &dyn Store,
    config: &OAuthState,
    active: &ActiveToken,
    presented: &Presented<'_>,
) -> OAuthResult<Result<(), Refused>> {
    let refuse = |code, description: &str| {
        Ok(Err(Refused {
            code,
            description: description.to_owned(),
        }))
    };
    let jkt = match (&active.jkt, presented.scheme) {
        (None, Scheme::Bearer) => return Ok(Ok(())),
        (None, Scheme::Dpop) => {
            return refuse(
                OAuthErrorCode::InvalidToken,
                "the access token is not DPoP-bound: present it as Bearer",
            )
        }
        (Some(_), Scheme::Bearer) => {
            return refuse(
                OAuthErrorCode::InvalidToken,
                "the access token is DPoP-bound: present it as DPoP, with a proof",
            )
        }
        (Some(jkt), Scheme::Dpop) => jkt,
    };
    let Some(proof) = presented.proof else {
        return refuse(OAuthErrorCode::InvalidDpopProof, "a DPoP proof is required");
    };
    let uri = format!("{}{}", config.issuer, presented.path);
    let expected = Expected {
        method: presented.method,
        uri: &uri,
        access_token: Some(presented.token),
        now: now(),
    };
    let checked = match heliogate_dpop::verify(proof, &expected) {
        Ok(checked) => checked,
        Err(e) => return refuse(OAuthErrorCode::InvalidDpopProof, &e.to_string()),
    };
    if &checked.jkt != jkt {
        return refuse(
            OAuthErrorCode::InvalidDpopProof,
            "the DPoP proof is not made with the key the token is bound to",
        );
    }
    if !first_use(store, &checked).await? {
        return refuse(
            OAuthErrorCode::InvalidDpopProof,
            "the DPoP proof was used before",
        );
    }
    Ok(Ok(()))
}

/// What a presented access token comes to.
#[derive(Debug, Clone)]
pub enum Presentation {
    /// Live, and presented as its binding asks.
    Accepted(Arc<ActiveToken>),
    /// Unknown, expired or revoked.
    Inactive,
    /// Live, but not presented as its binding asks.
    Refused(Refused),
}

/// A presented access token, looked up and checked against its binding: what every endpoint
/// that takes an access token (UserInfo, tokeninfo, the administration API) asks.
pub async fn accept(
    store: &dyn Store,
    config: &OAuthState,
    presented: &Presented<'_>,
) -> OAuthResult<Presentation> {
    let Some(active) = config.tokens.inspect(store, presented.token, now()).await? else {
        return Ok(Presentation::Inactive);
    };
    Ok(
        match check_presentation(store, config, &active, presented).await? {
            Ok(()) => Presentation::Accepted(active),
            Err(refused) => Presentation::Refused(refused),
        },
    )
}
