//! Google's OAuth 2.0 token endpoint (`POST /token`) and a consent-page stand-in (`GET /auth`).
//!
//! yup-oauth2 POSTs form-encoded `grant_type=refresh_token` (or `authorization_code`) with the
//! client id and secret to the client secret's `token_uri`, and accepts only a JSON answer with
//! `token_type` "Bearer"; errors are `{"error": .., "error_description": ..}` with 400/401.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::util::{BasicAuth, basic_auth, first, query_pairs};
use crate::world::World;

/// The scope the stand-in reports granting; bionicbb asks for exactly this one.
const SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";
/// Google hands out one-hour tokens and reports one second less.
const EXPIRES_IN: u64 = 3599;

/// The OAuth client and the tokens the Google stand-ins accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GmailTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub client_id: String,
    pub client_secret: String,
}

pub(crate) struct OAuthStore {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    refresh_revoked: bool,
    /// Access tokens that are currently valid (several can be, as at Google).
    valid: Vec<String>,
    latest: String,
    issued: u64,
    codes: Vec<String>,
}

impl OAuthStore {
    pub(crate) fn new() -> OAuthStore {
        let first = "ya29.standin-access-1".to_owned();
        OAuthStore {
            client_id: "standin-client.apps.googleusercontent.com".into(),
            client_secret: "GOCSPX-standin-client-secret".into(),
            refresh_token: "1//standin-refresh-token".into(),
            refresh_revoked: false,
            valid: vec![first.clone()],
            latest: first,
            issued: 1,
            codes: Vec::new(),
        }
    }

    pub(crate) fn access_token_valid(&self, token: &str) -> bool {
        self.valid.iter().any(|t| t == token)
    }

    fn mint(&mut self) -> String {
        self.issued += 1;
        let token = format!("ya29.standin-access-{}", self.issued);
        self.valid.push(token.clone());
        self.latest = token.clone();
        token
    }
}

impl World {
    /// The OAuth client, the refresh token and the latest access token the stand-ins accept.
    pub fn gmail_tokens(&self) -> GmailTokens {
        let inner = self.lock();
        let o = &inner.oauth;
        GmailTokens {
            access_token: o.latest.clone(),
            refresh_token: o.refresh_token.clone(),
            client_id: o.client_id.clone(),
            client_secret: o.client_secret.clone(),
        }
    }

    /// An installed-app client secret file (`{"installed":{..}}`, what the Google Cloud console
    /// downloads) whose `token_uri` is `token_url`, for yup-oauth2's `read_application_secret`.
    pub fn client_secret_json(&self, token_url: &str) -> String {
        let t = self.gmail_tokens();
        let auth_uri = match token_url.strip_suffix("/token") {
            Some(base) => format!("{base}/auth"),
            None => "https://accounts.google.com/o/oauth2/auth".to_owned(),
        };
        let secret = json!({"installed": {
            "client_id": t.client_id,
            "project_id": "bionicbb-standin",
            "auth_uri": auth_uri,
            "token_uri": token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": t.client_secret,
            "redirect_uris": ["http://localhost"],
        }});
        secret.to_string()
    }

    /// A yup-oauth2 token cache (`persist_tokens_to_disk` format) for the gmail.modify scope,
    /// so a daemon starts without an interactive flow. With `expired`, the stored access token
    /// is stale and already past its expiry, so the first call must refresh it.
    pub fn oauth_token_cache_json(&self, expired: bool) -> String {
        let t = self.gmail_tokens();
        let (access, expires_at) = if expired {
            (
                "expired-access-token".to_string(),
                json!([2020, 1, 0, 0, 0, 0, 0, 0, 0]),
            )
        } else {
            (t.access_token, serde_json::Value::Null)
        };
        json!([{
            "scopes": [SCOPE],
            "token": {"access_token": access, "refresh_token": t.refresh_token,
                      "expires_at": expires_at, "id_token": null},
        }])
        .to_string()
    }

    /// An authorization code the token endpoint will exchange once (`grant_type=authorization_code`).
    pub fn oauth_issue_code(&self) -> String {
        let mut inner = self.lock();
        let code = format!("4/0standin-code-{}", inner.oauth.codes.len() + 1);
        inner.oauth.codes.push(code.clone());
        code
    }

    /// Makes every access token invalid (Gmail answers 401 until the client refreshes).
    pub fn oauth_revoke_access_tokens(&self) {
        self.lock().oauth.valid.clear();
    }

    /// Makes the refresh token invalid (the token endpoint answers `invalid_grant`).
    pub fn oauth_revoke_refresh_token(&self) {
        self.lock().oauth.refresh_revoked = true;
    }
}

pub(crate) fn router(world: World) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/auth", get(consent))
        .with_state(world)
}

/// An OAuth error body as Google's token endpoint sends it.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    json_response(status, &body)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::CACHE_CONTROL,
                "no-cache, no-store, max-age=0, must-revalidate",
            ),
        ],
        format!("{body:#}"),
    )
        .into_response()
}

async fn token(State(world): State<World>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(mut form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request body.",
        );
    };
    // client_secret_basic is allowed as well as client_secret_post.
    if let BasicAuth::Credentials(id, secret) = basic_auth(&headers) {
        form.push(("client_id".into(), id));
        form.push(("client_secret".into(), secret));
    }
    let Some(grant_type) = first(&form, "grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        );
    };
    let mut inner = world.lock();
    let o = &mut inner.oauth;
    if first(&form, "client_id") != Some(o.client_id.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    if first(&form, "client_secret") != Some(o.client_secret.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    match grant_type {
        "refresh_token" => {
            let Some(refresh) = first(&form, "refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: refresh_token",
                );
            };
            if o.refresh_revoked || refresh != o.refresh_token {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let access = o.mint();
            json_response(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": EXPIRES_IN,
                        "scope": SCOPE, "token_type": "Bearer"}),
            )
        }
        "authorization_code" => {
            let code = first(&form, "code").unwrap_or_default();
            let Some(pos) = o.codes.iter().position(|c| c == code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            o.codes.remove(pos);
            o.refresh_revoked = false;
            let access = o.mint();
            json_response(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": EXPIRES_IN,
                        "refresh_token": o.refresh_token, "scope": SCOPE, "token_type": "Bearer"}),
            )
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
    }
}

/// The consent page: "the user" consents at once and is sent to `redirect_uri` with a fresh
/// code, so yup-oauth2's `HTTPRedirect` flow completes without a browser.
async fn consent(State(world): State<World>, RawQuery(query): RawQuery) -> Response {
    let Some(pairs) = query_pairs(query.as_deref()) else {
        return (StatusCode::BAD_REQUEST, "Error 400: invalid_request").into_response();
    };
    if first(&pairs, "client_id") != Some(world.gmail_tokens().client_id.as_str()) {
        return (StatusCode::UNAUTHORIZED, "Error 401: invalid_client").into_response();
    }
    let Some(redirect) = first(&pairs, "redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "Error 400: invalid_request").into_response();
    };
    let mut answer = vec![
        ("code", world.oauth_issue_code()),
        ("scope", SCOPE.to_owned()),
    ];
    if let Some(state) = first(&pairs, "state") {
        answer.push(("state", state.to_owned()));
    }
    let query = serde_urlencoded::to_string(&answer).unwrap_or_default();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{redirect}{sep}{query}"))],
    )
        .into_response()
}
