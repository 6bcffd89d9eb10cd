//! The optional first-party cookie (`enrich.sessions.cookie`): a stable
//! network user id for visitors when clickgate is served on the site's own
//! domain. HttpOnly, Secure, SameSite=Lax, one year, refreshed on every
//! successful answer; never set in cookieless mode.
//!
//! The layer hands the id to the handlers in the request's extensions,
//! which a client cannot set.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The network user id, as the layer puts it in the request's extensions.
#[derive(Debug, Clone)]
pub struct NetworkUserId(pub String);

const ONE_YEAR_SECS: u32 = 365 * 24 * 3600;

/// `cookie`: the cookie's name when the cookie is on, else `None`.
pub async fn network_user_id(
    State(cookie): State<Option<Arc<str>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(name) = cookie else {
        return next.run(req).await;
    };
    let id = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(v, &name))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(NetworkUserId(id.clone()));
    let mut response = next.run(req).await;
    if response.status().is_success() {
        let set =
            format!("{name}={id}; Max-Age={ONE_YEAR_SECS}; Path=/; HttpOnly; Secure; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&set) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The value of cookie `name` in a `Cookie` header, if it looks like an id
/// clickgate could have set.
fn cookie_value<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_well_formed_ids() {
        assert_eq!(
            cookie_value("a=1; cg_nuid=abc-123; b=2", "cg_nuid"),
            Some("abc-123")
        );
        assert_eq!(cookie_value("cg_nuid=<script>", "cg_nuid"), None);
        assert_eq!(cookie_value("other=x", "cg_nuid"), None);
    }
}
