//! A revocation is seen at once on the node that made it, however many checks of the same
//! token are in flight while it commits (the use cases on a real store, both engines).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use heliogate_app::admin::{self, AddClient};
use heliogate_app::oauth::revoke::revoke;
use heliogate_app::oauth::token::token_request;
use heliogate_app::oauth::{ClientCredentials, OAuthState};
use heliogate_app::{now, Actor};
use heliogate_core::oauth::Params;
use heliogate_store::Store;

heliogate_store::for_each_backend!(heliogate_store::testing::with_store;
    a_revoked_token_is_refused_at_once_while_checks_race_the_revocation,
);

async fn a_revoked_token_is_refused_at_once_while_checks_race_the_revocation(
    store: Arc<dyn Store>,
) {
    let oauth = Arc::new(OAuthState::new(
        "http://heliogate.test".into(),
        3600,
        86_400,
    ));
    let client = admin::add_client(
        &*store,
        &Actor::cli(),
        AddClient {
            name: "svc".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["read".into()],
            ..AddClient::default()
        },
    )
    .await
    .unwrap();
    let credentials = ClientCredentials {
        basic: Some((client.client_id.clone(), client.client_secret.unwrap())),
        ..ClientCredentials::default()
    };
    for round in 0..40 {
        let issued = token_request(
            &*store,
            &oauth,
            &Params::parse("grant_type=client_credentials"),
            &credentials,
            None,
            None,
        )
        .await
        .unwrap();
        let token = issued.access_token;
        let stop = Arc::new(AtomicBool::new(false));
        let checkers: Vec<_> = (0..4)
            .map(|_| {
                let (store, oauth, token, stop) = (
                    Arc::clone(&store),
                    Arc::clone(&oauth),
                    token.clone(),
                    Arc::clone(&stop),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = oauth.tokens.inspect(&*store, &token, now()).await;
                        // A cache hit does not wait: let the revocation run too.
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let form = format!("token={token}");
        revoke(&*store, &oauth, &Params::parse(&form), &credentials, None)
            .await
            .unwrap();
        // Revoked here: refused here, now and on every later check, while the racing checks
        // are still running.
        for _ in 0..20 {
            let seen = oauth.tokens.inspect(&*store, &token, now()).await.unwrap();
            assert!(seen.is_none(), "round {round}: a revoked token was active");
            tokio::task::yield_now().await;
        }
        stop.store(true, Ordering::Relaxed);
        for checker in checkers {
            checker.await.unwrap();
        }
    }
}
