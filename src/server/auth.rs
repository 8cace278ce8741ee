//! The shared secret of the POST endpoints (SPEC §7): with a token configured, a POST must
//! carry it as `?token=` (all the plugin's URL can hold) or `Authorization: Bearer`. It is
//! checked before anything reads the body, so an unauthenticated request never gets to make
//! the server buffer a megabyte. Reads (the board, the API) need no token.

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Answers 401 before the handler (and its body extractor) runs, when the token is wrong.
pub(super) async fn require_token(
    AxumState(app): AxumState<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&app, request.headers(), request.uri()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// SPEC §7: with a token configured, a POST must carry it as `?token=` (all the plugin's URL
/// can hold) or `Authorization: Bearer`.
pub(super) fn authorize(app: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let Some(expected) = &app.token else {
        return Ok(());
    };
    let from_query = Query::<TokenQuery>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.token);
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let given = [from_query, from_header];
    // Evaluate both candidates so timing does not tell which one was present.
    let ok = given.iter().fold(false, |acc, t| {
        acc | t
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), expected.expose().as_bytes()))
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token (send ?token=<value> or Authorization: Bearer <value>)",
        ))
    }
}

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_only() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
