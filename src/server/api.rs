//! The read-only JSON API of SPEC §14 (`/api/v1/changes`, `/api/v1/changes/{project~number}`,
//! `/api/v1/events`) and `/metrics`; no token, nothing here writes.
//! The JSON shapes are [`super::views`]'s, shared with the board, `/sse` and the webhook.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::views::{change_json, event_json, param, parse_change};
use super::{ApiError, AppState};

/// The routes of this module (all GET, all without a token).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/changes", get(changes))
        .route("/api/v1/changes/{*change}", get(change))
        .route("/api/v1/events", get(events))
        .route("/metrics", get(metrics))
}

async fn changes(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = param(&q, "limit", 50, 1000)?;
    let list = app
        .journal
        .changes(usize::try_from(limit).unwrap_or(50))
        .await?;
    let changes: Vec<Value> = list.iter().map(|c| change_json(&app.config, c)).collect();
    Ok(axum::Json(json!({ "changes": changes })).into_response())
}

async fn change(
    State(app): State<AppState>,
    Path(change): Path<String>,
) -> Result<Response, ApiError> {
    let (project, number) = parse_change(&change)?;
    let Some((view, events)) = app.journal.change(project, number).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no change {change} seen by bionicbb"),
        ));
    };
    let mut v = change_json(&app.config, &view);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "events".into(),
            Value::Array(events.iter().map(event_json).collect()),
        );
    }
    Ok(axum::Json(v).into_response())
}

async fn events(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let after = param(&q, "after", 0, i64::MAX as u64)?;
    let limit = param(&q, "limit", 100, 1000)?;
    let list = app
        .journal
        .events_since(
            i64::try_from(after).unwrap_or(i64::MAX),
            usize::try_from(limit).unwrap_or(100),
        )
        .await?;
    let events: Vec<Value> = list.iter().map(event_json).collect();
    Ok(axum::Json(json!({ "events": events })).into_response())
}

async fn metrics(State(app): State<AppState>) -> Result<Response, ApiError> {
    // Durations this process measured since the last flush count too.
    if let Err(e) = app.status.timings.flush(&app.journal).await {
        tracing::warn!(error = %e, "cannot record request durations");
    }
    let text = crate::metrics::render(&app.journal).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
