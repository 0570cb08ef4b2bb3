//! An example wasi:http handler component for wasmpod.
//!
//! wasmpod serves a component that exports `wasi:http/incoming-handler` on
//! its container's `containerPort`s in the pod network: a fresh instance
//! per request, with the container's env and volumes. Routes:
//!
//! - `GET /`: a greeting naming the pod (`HOSTNAME`).
//! - `GET /healthz`: 200 `ok`, or 503 while the file `$HEALTH_FILE`
//!   (default `/health/down`) exists: an `httpGet` probe's target.
//! - `POST /grpc.health.v1.Health/Check`: SERVING or NOT_SERVING by the
//!   same file: a `grpc` probe's target.
//!
//! It also exports `wasmpod:probe/check`: an `exec` probe with command
//! `["healthy"]` is answered by `check` below, in-process, although the
//! component has no `main` to run a command with.

use std::io::Write as _;

use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasi::http::proxy::export!(Handler);

mod probe {
    wit_bindgen::generate!({ path: "../../wit/probe/check.wit", world: "checked" });
}

probe::export!(Handler with_types_in probe);

struct Handler;

/// The file whose presence marks the component unhealthy.
fn health_file() -> String {
    std::env::var("HEALTH_FILE").unwrap_or_else(|_| "/health/down".into())
}

fn healthy() -> bool {
    !std::path::Path::new(&health_file()).exists()
}

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        match (request.method(), path.as_str()) {
            (Method::Get, "/") => {
                let host = std::env::var("HOSTNAME").unwrap_or_default();
                respond(out, 200, "text/plain", format!("Hello from a wasi:http handler component in pod {host}\n").as_bytes(), None);
            }
            (Method::Get, "/healthz") if healthy() => respond(out, 200, "text/plain", b"ok\n", None),
            (Method::Get, "/healthz") => respond(out, 503, "text/plain", b"unhealthy\n", None),
            (Method::Post, "/grpc.health.v1.Health/Check") => {
                // HealthCheckResponse { status = 1 (SERVING) | 2 (NOT_SERVING) },
                // length-prefixed; the status of the call goes in trailers.
                let status = if healthy() { 1 } else { 2 };
                let trailers = Fields::from_list(&[("grpc-status".into(), b"0".to_vec())]).expect("valid trailer");
                respond(out, 200, "application/grpc", &[0, 0, 0, 0, 2, 0x08, status], Some(trailers));
            }
            _ => respond(out, 404, "text/plain", b"not found\n", None),
        }
    }
}

impl probe::exports::wasmpod::probe::check::Guest for Handler {
    fn check(command: Vec<String>) -> Result<(), String> {
        match command.first().map(String::as_str) {
            Some("healthy") if healthy() => Ok(()),
            Some("healthy") => Err(format!("{} exists", health_file())),
            other => Err(format!("unknown check {other:?}; this component answers [\"healthy\"]")),
        }
    }
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8], trailers: Option<Fields>) {
    let headers = Fields::from_list(&[("content-type".into(), content_type.as_bytes().to_vec())]).expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    {
        let mut stream = outgoing.write().expect("stream taken once");
        // A client that went away is no error worth a trap.
        let _ = stream.write_all(body);
        let _ = stream.flush();
    }
    let _ = OutgoingBody::finish(outgoing, trailers);
}
