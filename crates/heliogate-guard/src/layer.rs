//! The tower layer that guards a route.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::answer::{presented_token, Refusal};
use crate::check::{scopes_of, Verdict};
use crate::{Caller, Guard};

/// Made by [`Guard::require`]: wraps a route in [`Require`].
#[derive(Clone, Debug)]
pub struct RequireLayer {
    guard: Guard,
    scopes: Arc<[String]>,
    /// The scopes as the 403 names them.
    wanted: Arc<str>,
}

impl RequireLayer {
    pub(crate) fn new(guard: Guard, scopes: &str) -> Self {
        let scopes = scopes_of(scopes);
        Self {
            guard,
            wanted: scopes.join(" ").into(),
            scopes: scopes.into(),
        }
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = Require<S>;

    fn layer(&self, inner: S) -> Require<S> {
        Require {
            inner,
            layer: self.clone(),
        }
    }
}

/// A route that only a request with a live token holding the required scopes reaches.
#[derive(Clone, Debug)]
pub struct Require<S> {
    inner: S,
    layer: RequireLayer,
}

impl RequireLayer {
    /// The caller of a request, or why it may not pass.
    async fn admit(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Arc<Caller>, Refusal> {
        let (scheme, token) = presented_token(headers)?;
        let caller = match self.guard.check(token).await {
            Verdict::Live(caller) => caller,
            Verdict::Dead => return Err(Refusal::InvalidToken),
            Verdict::Unavailable => return Err(Refusal::Unavailable),
        };
        let presented = crate::dpop::Presented {
            scheme,
            token,
            method: method.as_str(),
            path,
            headers,
        };
        self.guard.check_binding(&caller, &presented)?;
        if self.scopes.iter().all(|s| caller.has_scope(s)) {
            Ok(caller)
        } else {
            Err(Refusal::InsufficientScope(self.wanted.to_string()))
        }
    }
}

impl<S> Service<Request> for Require<S>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The service that was made ready goes with this request; its clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let admitted = layer
                .admit(request.method(), request.uri().path(), request.headers())
                .await;
            match admitted {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    if let Some(token) = crate::answer::presented_token(request.headers())
                        .ok()
                        .map(|(_, token)| crate::CallerToken(token.to_owned()))
                    {
                        request.extensions_mut().insert(token);
                    }
                    inner.call(request).await.map(IntoResponse::into_response)
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}
