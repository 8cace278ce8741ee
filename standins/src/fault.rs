//! The HTTP edge shared by every stand-in: one axum middleware that records each request and
//! applies the service's injected [`Fault`](crate::Fault) around the real handler.
//!
//! A failure is answered in the failing service's own error format, because clients branch on
//! it: Gmail's JSON envelope (google-gmail1 turns any JSON error body into `BadRequest`), OAuth's
//! `{"error": ..}`, Gerrit's plain text, Jenkins' HTML page. A 401 is what each service sends
//! for refused credentials (Gerrit: Jetty's page with `WWW-Authenticate: Basic realm="Gerrit
//! Code Review"`; Jenkins: its page with `Basic realm="Jenkins"`). A redirect fault is the login
//! redirect of a single-sign-on proxy in front of the service, the same for every service.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::util::{BasicAuth, basic_auth};
use crate::world::{FaultAction, RecordedRequest, Service, World};
use crate::{gerrit, gmail, jenkins, oauth};

/// State of the edge layer: which service this router is, and the world it reports to.
#[derive(Clone)]
pub(crate) struct Edge {
    pub(crate) world: World,
    pub(crate) service: Service,
}

pub(crate) async fn edge(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    edge.world.enter(edge.service);
    // Left on drop too: a client that hangs up mid-request is no longer in flight.
    let _guard = InFlightGuard(&edge);
    answer(&edge, request, next).await
}

struct InFlightGuard<'a>(&'a Edge);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.world.leave(self.0.service);
    }
}

async fn answer(edge: &Edge, request: Request, next: Next) -> Response {
    edge.world.record(
        edge.service,
        RecordedRequest {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
        },
    );
    match edge.world.fault_action(edge.service) {
        FaultAction::Pass => next.run(request).await,
        FaultAction::Delay(d) => {
            tokio::time::sleep(d).await;
            next.run(request).await
        }
        FaultAction::InFlight(total) => in_flight(edge.service, request, next, total).await,
        FaultAction::Fail(401) => unauthorized(edge.service, &request),
        FaultAction::Fail(status) => failure(edge.service, status),
        FaultAction::Redirect(location) => login_redirect(&location),
    }
}

/// The service's answer to credentials it does not accept.
fn unauthorized(service: Service, request: &Request) -> Response {
    match service {
        Service::Gerrit => gerrit::unauthorized(request.uri().path()),
        Service::Jenkins => jenkins::unauthorized(&basic_user(request.headers())),
        _ => failure(service, 401),
    }
}

fn basic_user(headers: &HeaderMap) -> String {
    match basic_auth(headers) {
        BasicAuth::Credentials(user, _) => user,
        BasicAuth::Absent | BasicAuth::Malformed => String::new(),
    }
}

/// A login redirect as a front end's single sign-on sends it: 302, `Location`, a small HTML page.
fn login_redirect(location: &str) -> Response {
    let shown = location
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let body = format!(
        "<HTML><HEAD><meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n\
         <TITLE>302 Moved</TITLE></HEAD><BODY>\n<H1>302 Moved</H1>\nThe document has moved\n\
         <A HREF=\"{shown}\">here</A>.\r\n</BODY></HTML>\r\n"
    );
    let mut response = (
        StatusCode::FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        body,
    )
        .into_response();
    if let Ok(value) = header::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Runs the handler in the middle of `total`: half the delay before it, half after it.
///
/// The body is read first and the handler runs in its own task, so once the request has arrived
/// its effect happens even if the client hangs up meanwhile, as on a real server that already
/// received the request; only the answer is lost then.
async fn in_flight(service: Service, request: Request, next: Next, total: Duration) -> Response {
    let before = total / 2;
    let after = total.saturating_sub(before);
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return failure(service, 400);
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    let handled = tokio::spawn(async move {
        tokio::time::sleep(before).await;
        next.run(request).await
    });
    let response = match handled.await {
        Ok(response) => response,
        Err(_) => failure(service, 500),
    };
    tokio::time::sleep(after).await;
    response
}

/// The response a service gives for an injected failure with HTTP `status`.
pub(crate) fn failure(service: Service, status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let reason = code.canonical_reason().unwrap_or("Error");
    match service {
        Service::Gmail => gmail::google_error(code, reason, fault_reason(code)),
        Service::OAuth => oauth::oauth_error(code, "internal_failure", reason),
        Service::Gerrit => gerrit::text_error(code, reason),
        Service::Jenkins => jenkins::html_error(code, reason),
    }
    .into_response()
}

/// Google's `errors[].reason` for a status, as its error guide lists them.
fn fault_reason(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "badRequest",
        401 => "authError",
        403 => "rateLimitExceeded",
        404 => "notFound",
        429 => "rateLimitExceeded",
        _ => "backendError",
    }
}
