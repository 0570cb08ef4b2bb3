//! TLS bootstrap, as the kubelet does it: a node that has only a bootstrap
//! kubeconfig (a bootstrap token, `system:bootstrap:<id>` in the group
//! `system:bootstrappers`) makes a key, asks the cluster for a client
//! certificate of `system:node:<name>` with a CertificateSigningRequest
//! (signer `kubernetes.io/kube-apiserver-client-kubelet`), waits for the
//! cluster to approve and sign it (kube-controller-manager approves such
//! requests from bootstrappers when RBAC lets them), and writes the node's
//! kubeconfig with the certificate and key. A kubeconfig already there is
//! used as it is.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use hyper::Method;
use serde_json::{Value, json};

use super::client::ApiClient;

/// How long to wait for the cluster to sign the request.
const SIGNING_WAIT: Duration = Duration::from_secs(900);

/// Why the node got no identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The bootstrap kubeconfig cannot be used, or the cluster refused.
    #[error(transparent)]
    Client(#[from] super::ClientError),
    /// The request was denied or failed, or never signed in time.
    #[error("certificatesigningrequest {name}: {why}")]
    Request {
        /// The request's name.
        name: String,
        /// What happened.
        why: String,
    },
    /// A key, a request or the kubeconfig could not be made or written.
    #[error("{0}")]
    Local(String),
}

/// The CSR (PEM) for node `name`'s client identity, and its key (PEM).
fn request(name: &str) -> Result<(String, String), BootstrapError> {
    let local = |e: rcgen::Error| BootstrapError::Local(format!("the node's key and request: {e}"));
    let key = rcgen::KeyPair::generate().map_err(local)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "system:nodes");
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("system:node:{name}"));
    let csr = params.serialize_request(&key).map_err(local)?.pem().map_err(local)?;
    Ok((csr, key.serialize_pem()))
}

/// The kubeconfig of the node's identity on `api`'s cluster.
fn node_kubeconfig(api: &ApiClient, cert_pem: &str, key_pem: &str) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "default-cluster", "cluster": {"server": api.server(), "certificate-authority-data": b64(api.ca_pem())}}],
        "users": [{"name": "default-auth", "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": "default-context", "context": {"cluster": "default-cluster", "user": "default-auth"}}],
        "current-context": "default-context",
    })
}

/// Writes `bytes` to `path` readable by its owner only (it holds a key),
/// atomically.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Makes `kubeconfig` for node `name` through the cluster `bootstrap`
/// names, unless it exists; `progress` hears what it waits for.
pub async fn bootstrap(bootstrap: &Path, kubeconfig: &Path, name: &str, progress: &(dyn Fn(&str) + Sync)) -> Result<(), BootstrapError> {
    if kubeconfig.exists() {
        return Ok(());
    }
    let api = ApiClient::from_kubeconfig(bootstrap)?;
    let (csr, key) = request(name)?;
    let body = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "node-csr-"},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(&csr),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"],
        },
    });
    let created = api.request(Method::POST, "/apis/certificates.k8s.io/v1/certificatesigningrequests", Some(&body), "application/json").await?;
    let csr_name = created["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    progress(&format!("certificatesigningrequest {csr_name} for system:node:{name} is waiting for the cluster's approval and signature"));
    let failed = |why: String| BootstrapError::Request { name: csr_name.clone(), why };
    let deadline = tokio::time::Instant::now() + SIGNING_WAIT;
    let cert = loop {
        let now = api.get(&format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{csr_name}")).await?;
        for c in now["status"]["conditions"].as_array().into_iter().flatten() {
            if matches!(c["type"].as_str(), Some("Denied" | "Failed")) && c["status"] != "False" {
                return Err(failed(format!("{}: {}", c["type"].as_str().unwrap_or_default(), c["message"].as_str().unwrap_or_default())));
            }
        }
        if let Some(cert) = now["status"]["certificate"].as_str().filter(|c| !c.is_empty()) {
            break base64::engine::general_purpose::STANDARD.decode(cert).map_err(|e| failed(format!("its certificate is not base64: {e}")))?;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(failed(format!("not signed within {SIGNING_WAIT:?} (is it approved? kubectl certificate approve {csr_name})")));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let cert = String::from_utf8(cert).map_err(|_| failed("its certificate is not PEM".into()))?;
    let text = serde_json::to_string_pretty(&node_kubeconfig(&api, &cert, &key)).expect("JSON serializes");
    if let Some(dir) = kubeconfig.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| BootstrapError::Local(format!("{}: {e}", dir.display())))?;
    }
    write_private(kubeconfig, text.as_bytes()).map_err(|e| BootstrapError::Local(format!("{}: {e}", kubeconfig.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    #[test]
    fn the_request_names_the_node_as_the_node_authorizer_knows_it() {
        let (csr, key) = request("wp-7").unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----") && key.contains("PRIVATE KEY"));
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(csr.as_bytes())
            .map(|d: rustls::pki_types::CertificateSigningRequestDer| d.as_ref().to_vec())
            .unwrap();
        let (_, parsed) = x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        let subject = &parsed.certification_request_info.subject;
        assert_eq!(subject.iter_common_name().next().unwrap().as_str().unwrap(), "system:node:wp-7");
        assert_eq!(subject.iter_organization().next().unwrap().as_str().unwrap(), "system:nodes");
    }
}
