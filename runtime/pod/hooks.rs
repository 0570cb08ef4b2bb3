//! Container lifecycle hooks (`lifecycle.postStart`, `lifecycle.preStop`)
//! with the kubelet's handlers: `exec` (a fresh instance of the
//! container's image with the hook's command, in the container's files,
//! env and network, as `exec` runs), `httpGet` (through the pod network)
//! and `sleep`. A `tcpSocket` hook fails, as the kubelet fails it.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::instance::{InstanceTemplate, Stdio};
use crate::net::SocketPolicy;
use crate::sandbox::Engine as WasmEngine;
use crate::sandbox::{self, StopSignal};
use crate::volume::Mount;

/// What a hook runs in: the container's instance (a hook's command
/// counts against the container's limits, as a process in its cgroup
/// would) and the mounts of the instance it belongs to.
pub(crate) struct HookContext<'a> {
    pub engine: &'a Arc<WasmEngine>,
    pub instance: &'a InstanceTemplate,
    pub container: &'a Container,
    pub mounts: &'a [Mount],
}

/// Runs `handler`; `Err` carries the kubelet-style failure text.
pub(crate) async fn run(handler: &LifecycleHandler, ctx: &HookContext<'_>) -> Result<(), String> {
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        if command.is_empty() {
            return Err("exec hook has no command".into());
        }
        // A hook's instance serves nothing and is not asked to stop.
        let spec = ctx.instance.spec(command.clone(), ctx.mounts.to_vec(), Stdio::none(), StopSignal::new(), Vec::new());
        return match sandbox::run(ctx.engine, &ctx.instance.program, spec).await {
            Ok(exit) if exit.succeeded() => Ok(()),
            Ok(exit) => Err(format!("command '{}' {}", command.join(" "), exit.describe())),
            Err(e) => Err(crate::error_text::full_message(&e)),
        };
    }
    if let Some(get) = &handler.http_get {
        let port = crate::manifest::resolve_port(&get.port, ctx.container)?;
        let path = get.path.clone().unwrap_or_else(|| "/".into());
        let tls = get.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
        return http_get(&ctx.instance.sandbox.network, get.host.as_deref(), port, &path, tls).await;
    }
    if let Some(sleep) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64)).await;
        return Ok(());
    }
    if let Some(tcp) = &handler.tcp_socket {
        // The API accepts tcpSocket in a hook only for compatibility: the
        // kubelet's handler runner has no case for it and fails the hook.
        return Err(invalid_tcp_handler(tcp));
    }
    Err("the hook has no handler".into())
}

/// The kubelet's failure for a `tcpSocket` hook (`handlerRunner.Run`'s
/// default case): `Cannot run handler: invalid handler: %v` of the handler,
/// which Go prints with its generated `String()`. The other handler fields
/// are nil here, as `run` tried them first; the port is an `IntOrString`
/// printed as a plain struct (`{type intVal strVal}`).
fn invalid_tcp_handler(tcp: &TCPSocketAction) -> String {
    let port = match &tcp.port {
        IntOrString::Int(n) => format!("{{0 {n} }}"),
        IntOrString::String(name) => format!("{{1 0 {name}}}"),
    };
    let host = tcp.host.as_deref().unwrap_or_default();
    format!("Cannot run handler: invalid handler: &LifecycleHandler{{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{{Port:{port},Host:{host},}},Sleep:nil,}}")
}

async fn http_get(network: &SocketPolicy, host: Option<&str>, port: u16, path: &str, tls: bool) -> Result<(), String> {
    let host = host.filter(|h| !h.is_empty());
    // HTTPS: TLS without verifying the certificate, as the kubelet's hooks.
    async fn send<IO>(io: IO, tls: bool, host: &str, port: u16, path: &str) -> Result<u16, String>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if tls {
            let tls = crate::net::tls::connect(io, host, false).await.map_err(|e| format!("remote error: tls: {e}"))?;
            request(TokioIo::new(tls), host, port, path).await
        } else {
            request(TokioIo::new(io), host, port, path).await
        }
    }
    let response = match network {
        SocketPolicy::Pod(net) => {
            let conn = match host {
                None => crate::net::connect_loopback(net, port).map_err(|e| e.to_string())?,
                Some(h) => {
                    let ip = crate::net::resolve_name(net, h)?;
                    let (conn, binding) = net.connect_any(std::net::SocketAddr::new(ip, port)).await.map_err(|e| e.to_string())?;
                    conn.holding(binding)
                }
            };
            send(conn, tls, host.unwrap_or("localhost"), port, path).await?
        }
        SocketPolicy::Host => {
            let h = host.unwrap_or("127.0.0.1");
            let tcp = tokio::net::TcpStream::connect((h, port)).await.map_err(|e| e.to_string())?;
            send(tcp, tls, h, port, path).await?
        }
        SocketPolicy::None => return Err("the container has no network".into()),
    };
    // The kubelet counts 2xx and 3xx as success.
    if (200..400).contains(&response) { Ok(()) } else { Err(format!("HTTP lifecycle hook ({path}) for port {port} failed with statuscode: {response}")) }
}

async fn request<IO>(io: IO, host: &str, port: u16, path: &str) -> Result<u16, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::USER_AGENT, "kube-lifecycle/1.35")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    // Read the body so the connection ends cleanly.
    let _ = resp.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_socket_handler_fails_with_the_kubelets_message() {
        let by_number = TCPSocketAction { port: IntOrString::Int(8080), host: None };
        assert_eq!(
            invalid_tcp_handler(&by_number),
            "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}"
        );
        let by_name = TCPSocketAction { port: IntOrString::String("http".into()), host: Some("db".into()) };
        assert_eq!(
            invalid_tcp_handler(&by_name),
            "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{1 0 http},Host:db,},Sleep:nil,}"
        );
    }
}
