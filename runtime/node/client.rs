//! A small client of a real kube-apiserver, from a kubeconfig: HTTPS with
//! the cluster's CA and a client certificate (the node's identity,
//! `system:node:<name>`) or a bearer token (a bootstrap token, for the
//! node's first CSR), JSON requests, and watches read line by line.
//! One TLS connection per request, as the node's traffic is a heartbeat
//! every few seconds and a patch per pod change.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig cannot be read or used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The server could not be reached or the exchange failed.
    #[error("{method} {path}: {message}")]
    Transport {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What failed.
        message: String,
    },
    /// The server answered with an error Status.
    #[error("{method} {path}: {code} {message}")]
    Status {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status.
        code: u16,
        /// The Status's message (or the body).
        message: String,
    },
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A kube-apiserver client.
#[derive(Clone)]
pub struct ApiClient {
    connector: tokio_rustls::TlsConnector,
    ca_pem: String,
    host: String,
    port: u16,
    server_name: rustls::pki_types::ServerName<'static>,
    /// A bearer token instead of a client certificate.
    token: Option<String>,
    /// The server's URL, as the kubeconfig gives it.
    server: String,
}

impl ApiClient {
    /// The client of a kubeconfig's current context (else its first
    /// cluster and user), with client-certificate credentials (inline
    /// `-data` fields or files relative to the kubeconfig) or a `token`.
    pub fn from_kubeconfig(path: &Path) -> Result<Self, ClientError> {
        let bad = |message: String| ClientError::Kubeconfig { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let v: Value = serde_saphyr::from_str(&text).map_err(|e| bad(format!("not YAML: {e}")))?;
        let named = |list: &str, name: Option<&str>, inner: &str| -> Value {
            let items = v[list].as_array().cloned().unwrap_or_default();
            let item = match name {
                Some(n) => items.iter().find(|i| i["name"].as_str() == Some(n)).cloned(),
                None => items.first().cloned(),
            };
            item.map(|i| i[inner].clone()).unwrap_or_default()
        };
        let current = v["current-context"].as_str().filter(|c| !c.is_empty());
        let context = current.map(|c| named("contexts", Some(c), "context")).unwrap_or_default();
        let cluster = named("clusters", context["cluster"].as_str(), "cluster");
        let user = named("users", context["user"].as_str(), "user");
        let dir = path.parent().unwrap_or(Path::new("."));
        let field = |obj: &Value, name: &str| -> Result<String, ClientError> {
            if let Some(d) = obj[format!("{name}-data")].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD.decode(d).map_err(|e| bad(format!("{name}-data is not base64: {e}")))?;
                return String::from_utf8(bytes).map_err(|_| bad(format!("{name}-data is not PEM")));
            }
            let file = obj[name].as_str().ok_or_else(|| bad(format!("no {name} or {name}-data (client certificates and tokens are supported)")))?;
            std::fs::read_to_string(dir.join(file)).map_err(|e| bad(format!("cannot read {file}: {e}")))
        };
        let server = cluster["server"].as_str().ok_or_else(|| bad("its cluster has no server".into()))?;
        let authority = server.strip_prefix("https://").ok_or_else(|| bad(format!("the server {server} is not https://")))?.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.trim_matches(|c| c == '[' || c == ']').to_owned(), p.parse().map_err(|_| bad(format!("bad port in {server}")))?)
            }
            _ => (authority.trim_matches(|c| c == '[' || c == ']').to_owned(), 443),
        };
        let server_name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| bad(format!("bad host in {server}")))?;
        let ca_pem = field(&cluster, "certificate-authority")?;
        let token = user["token"].as_str().map(str::to_owned);
        let identity = match &token {
            Some(_) => None,
            None => Some((field(&user, "client-certificate")?, field(&user, "client-key")?)),
        };
        let connector = connector_for(&ca_pem, identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str())))
            .map_err(|e| bad(format!("its credentials cannot be used: {e}")))?;
        Ok(Self { connector, ca_pem, host, port, server_name, token, server: server.to_owned() })
    }

    /// The server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The cluster's CA (PEM): the kubelet API accepts the clients it
    /// signed.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    async fn send(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let failed = |message: String| ClientError::Transport { method: method.to_string(), path: path.to_owned(), message };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| failed(format!("cannot connect: {e}")))?;
        let tls = self.connector.connect(self.server_name.clone(), tcp).await.map_err(|e| failed(format!("TLS: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| failed(e.to_string()))?;
        tokio::spawn(conn);
        let (ctype, bytes) = body.unwrap_or(("application/json", Vec::new()));
        let mut req = hyper::Request::builder();
        if let Some(token) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::CONTENT_TYPE, ctype)
            .header(hyper::header::USER_AGENT, concat!("wasmpod-node/", env!("CARGO_PKG_VERSION")))
            .body(http_body_util::Full::new(Bytes::from(bytes)))
            .map_err(|e| failed(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| failed(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let status: Value = serde_json::from_slice(&body).unwrap_or_default();
        let message = status["message"].as_str().map(str::to_owned).unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(ClientError::Status { method: method.to_string(), path: path.to_owned(), code: code.as_u16(), message })
    }

    /// A request with a JSON body (`content_type` names the patch kind
    /// for PATCH); the answer's JSON.
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>, content_type: &str) -> Result<Value, ClientError> {
        let body = body.map(|b| (content_type, serde_json::to_vec(b).expect("JSON serializes")));
        let resp = self.send(method.clone(), path, body).await?;
        let bytes = collect(&method, path, resp).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// `GET path`: the answer's bytes, not parsed.
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes, ClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        collect(&Method::GET, path, resp).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.request(Method::GET, path, None, "application/json").await
    }

    /// A watch (`path` with `watch=1`): its events, one JSON object each,
    /// until the server ends it (the channel then closes).
    pub async fn watch(&self, path: &str) -> Result<mpsc::Receiver<Value>, ClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut body = resp.into_body();
            let mut pending = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else { continue };
                pending.extend_from_slice(&data);
                while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=nl).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&line)
                        && tx.send(v).await.is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// The body of the answer to `method path`.
async fn collect(method: &Method, path: &str, resp: hyper::Response<hyper::body::Incoming>) -> Result<Bytes, ClientError> {
    let body =
        resp.into_body().collect().await.map_err(|e| ClientError::Transport { method: method.to_string(), path: path.to_owned(), message: e.to_string() })?;
    Ok(body.to_bytes())
}

/// A TLS connector that trusts `ca` and presents `cert` and `key` (PEM).
pub(crate) fn connector(ca: &str, cert: &str, key: &str) -> Result<tokio_rustls::TlsConnector, String> {
    connector_for(ca, Some((cert, key)))
}

/// A TLS connector that trusts `ca`, presenting a client certificate and
/// key (PEM) when given.
fn connector_for(ca: &str, identity: Option<(&str, &str)>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().map_err(|e| e.to_string())?.with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?;
            builder.with_client_auth_cert(chain, key).map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// `StatusCode` of a client error, for callers matching 404 and 409.
pub(crate) fn is(e: &ClientError, code: StatusCode) -> bool {
    e.code() == Some(code.as_u16())
}
