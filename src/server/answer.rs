//! How build-listener answers: a JSON body, and for bad input a 4xx (or, for a broken state
//! database, 503) with a one-line `{"error":"..."}` naming the problem. The handlers read the
//! body as bytes and parse it themselves to control those messages.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::jenkins::notification::BodyError;
use crate::journal::JournalError;
use crate::policy::callback::Rejection;

use super::AppState;

/// A 4xx (or, for a broken state database, 503) with a one-line JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // serde_json escapes newlines, so the body is always one line.
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<Rejection> for ApiError {
    fn from(e: Rejection) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> ApiError {
        tracing::error!(error = %e, "state database failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state database unavailable",
        )
    }
}

pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The body, or the 413/400 that replaces axum's plain-text rejection.
pub(super) fn body_bytes(
    app: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    match body {
        Ok(bytes) => Ok(bytes),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body is larger than {} bytes ([build_listener] max_body_bytes)",
                    app.config.build_listener.max_body_bytes
                ),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {}", e.body_text()),
        )),
    }
}

pub(super) fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}
