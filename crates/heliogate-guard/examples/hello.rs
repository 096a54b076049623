//! A hello-world service with an open route and guarded ones, on one thread: what
//! `bench/run.sh` measures (`STEPS=guard`).
//!
//! ```text
//! HELIOGATE_ISSUER=http://127.0.0.1:8080 GUARD_CLIENT_ID=… GUARD_CLIENT_SECRET=… \
//!     [GUARD_AUDIENCE=https://api.example.org/] [GUARD_LISTEN=127.0.0.1:9100] \
//!     cargo run --release -p heliogate-guard --example hello
//! ```
//! `GET /open` answers anyone; `GET /guarded` needs a token with `read`.

use std::env::var;

use axum::routing::get;
use axum::Router;
use heliogate_guard::{Caller, Guard};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut guard = Guard::discover(&var("HELIOGATE_ISSUER")?)
        .await?
        .introspection_client(&var("GUARD_CLIENT_ID")?, &var("GUARD_CLIENT_SECRET")?);
    if let Ok(audience) = var("GUARD_AUDIENCE") {
        guard = guard.audience(&audience);
    }
    let app = Router::new()
        .route("/open", get(|| async { "hello" }))
        .route(
            "/guarded",
            get(|caller: Caller| async move {
                drop(caller);
                "hello"
            })
            .layer(guard.require("read")),
        );
    let listen = var("GUARD_LISTEN").unwrap_or_else(|_| "127.0.0.1:9100".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("hello: serving on {listen}");
    axum::serve(listener, app).await?;
    Ok(())
}
