//! `grpc` probes: `grpc.health.v1.Health/Check` over h2c through the pod
//! network (or straight to the container's own wasi:http handler);
//! success when the answer is SERVING. The two protobuf messages have one
//! field each, so they are encoded here by hand rather than linking a
//! protobuf stack.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use super::http::{Answer, send};
use super::{Outcome, ProbeContext, USER_AGENT};

/// The health service's method path.
const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

pub(super) async fn check(ctx: &ProbeContext, port: u16, service: &str, timeout: Duration) -> Outcome {
    let addr = format!("{}:{port}", ctx.pod_ip());
    let req = http::Request::post(CHECK_PATH)
        .header(http::header::HOST, addr.as_str())
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(Full::new(Bytes::from(frame(&request_message(service)))));
    let req = match req {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(format!("error: health rpc probe failed: {e}")),
    };
    match tokio::time::timeout(timeout, send(ctx, None, port, req, true, false)).await {
        Err(_) => Outcome::Failure(format!("timeout: health rpc did not complete within {}", go_duration(timeout))),
        Ok(Err(e)) => Outcome::Failure(format!("error: failed to connect service \"{addr}\": {e}")),
        Ok(Ok(answer)) => judge(&answer),
    }
}

/// The outcome of a Check call's answer, in the kubelet's words.
fn judge(answer: &Answer) -> Outcome {
    let grpc_header = |name: &str| {
        let value = answer.trailers.as_ref().and_then(|t| t.get(name)).or_else(|| answer.headers.get(name));
        value.and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    if !answer.status.is_success() {
        return Outcome::Failure(format!("error: health rpc probe failed: rpc error: HTTP status {}", answer.status.as_u16()));
    }
    let code = grpc_header("grpc-status").and_then(|s| s.parse::<u32>().ok()).unwrap_or(2);
    if code != 0 {
        let message = grpc_header("grpc-message").unwrap_or_default();
        // UNIMPLEMENTED: the server has no health service.
        if code == 12 {
            return Outcome::Failure(format!("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {message}"));
        }
        return Outcome::Failure(format!("error: health rpc probe failed: rpc error: code = {} desc = {message}", code_name(code)));
    }
    match unframe(&answer.body).map(response_status) {
        Some(1) => Outcome::Success,
        Some(status) => Outcome::Failure(format!("service unhealthy (responded with \"{}\")", status_name(status))),
        None => Outcome::Failure("error: health rpc probe failed: malformed response message".into()),
    }
}

/// `HealthCheckRequest { string service = 1; }`.
fn request_message(service: &str) -> Vec<u8> {
    if service.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0x0a];
    put_varint(&mut out, service.len() as u64);
    out.extend_from_slice(service.as_bytes());
    out
}

/// `HealthCheckResponse { ServingStatus status = 1; }`: the status, 0
/// (UNKNOWN) when absent.
fn response_status(msg: &[u8]) -> u64 {
    let mut rest = msg;
    let mut status = 0;
    while let Some(key) = take_varint(&mut rest) {
        match key & 7 {
            0 => {
                let Some(v) = take_varint(&mut rest) else { break };
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let Some(len) = take_varint(&mut rest) else { break };
                let Ok(len) = usize::try_from(len) else { break };
                if len > rest.len() {
                    break;
                }
                rest = &rest[len..];
            }
            // Fixed-width fields do not occur in this message.
            _ => break,
        }
    }
    status
}

/// A gRPC length-prefixed, uncompressed message.
fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// The first message of a gRPC body.
fn unframe(body: &[u8]) -> Option<&[u8]> {
    let (head, rest) = body.split_at_checked(5)?;
    let len = usize::try_from(u32::from_be_bytes([head[1], head[2], head[3], head[4]])).ok()?;
    rest.get(..len)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn status_name(status: u64) -> &'static str {
    match status {
        0 => "UNKNOWN",
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNRECOGNIZED",
    }
}

fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).map(|s| (*s).to_owned()).unwrap_or_else(|| format!("Code({code})"))
}

/// Go's duration formatting for whole and fractional seconds (`1s`, `1.5s`).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &[u8], status: &str) -> Answer {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", status.parse().unwrap());
        Answer { status: http::StatusCode::OK, headers: http::HeaderMap::new(), body: Bytes::copy_from_slice(body), trailers: Some(trailers) }
    }

    #[test]
    fn messages_encode_and_decode() {
        assert_eq!(frame(&request_message("db")), [0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']);
        assert_eq!(frame(&request_message("")), [0, 0, 0, 0, 0]);
        assert_eq!(judge(&answer(&frame(&[0x08, 1]), "0")), Outcome::Success);
        assert_eq!(judge(&answer(&frame(&[0x08, 2]), "0")), Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into()));
        assert_eq!(judge(&answer(&frame(&[]), "0")), Outcome::Failure("service unhealthy (responded with \"UNKNOWN\")".into()));
        let unimplemented = judge(&answer(&[], "12"));
        assert!(
            matches!(&unimplemented, Outcome::Failure(m) if m.starts_with("error: this server does not implement the grpc health protocol")),
            "{unimplemented:?}"
        );
    }
}
