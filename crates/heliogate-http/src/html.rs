//! How every HTML page is answered: its headers (a strict CSP, never cached), and the CSP of a
//! page whose form leads on to an application.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Pages load nothing but our stylesheet and script, talk and post only to us, and are never
/// framed.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A rendered page with the headers every page carries: pages show or take secrets (session
/// CSRF tokens, passwords), so none is ever stored by a cache.
pub(crate) fn page(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    match html {
        Ok(html) => {
            let mut response = (status, axum::response::Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page whose form's answer redirects to `redirect_uri` (an application's): pages let forms
/// post to heliogate only, and browsers apply that to the redirect after the post too, so
/// that URI's origin is allowed as well.
pub(crate) fn form_redirecting_to(mut response: Response, redirect_uri: Option<&str>) -> Response {
    let origin = redirect_uri
        .and_then(|uri| url::Url::parse(uri).ok())
        .map(|url| match url.scheme() {
            "http" | "https" => url.origin().ascii_serialization(),
            scheme => format!("{scheme}:"),
        })
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
