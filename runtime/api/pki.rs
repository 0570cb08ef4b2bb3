//! The control API's HTTPS credentials, made on first start in
//! `<state>/pki/` (0700; keys 0600): a CA, a serving certificate for the
//! addresses the API listens on, and a client certificate for the user
//! (`CN=wasmpod-admin, O=system:masters`, as kubeadm's admin.conf). The
//! kubeconfig (`<state>/kubeconfig`) carries the CA and the client
//! credentials; requests with no certificate the CA signed get 401.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Why the credentials could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file of `<state>/pki/` could not be read or written.
    #[error("{action} {}", path.display())]
    Io {
        /// What was done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key could not be made, or one on disk is damaged.
    #[error("{what}: {source}")]
    Certificate {
        /// Which.
        what: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
}

/// The CA, the serving certificate and key, and the client certificate and
/// key, as PEM.
#[derive(Clone)]
pub struct Pki {
    /// `pki/ca.crt`.
    pub ca_pem: String,
    /// `pki/apiserver.crt`.
    pub server_pem: String,
    /// `pki/apiserver.key`.
    pub server_key_pem: String,
    /// `pki/admin.crt`.
    pub client_pem: String,
    /// `pki/admin.key`.
    pub client_key_pem: String,
}

/// The user the client certificate names, and its group.
pub const ADMIN_USER: &str = "wasmpod-admin";
const ADMIN_GROUP: &str = "system:masters";

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "wasmpod-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    params
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Certificate { what: what.to_owned(), source }
}

/// A certificate of `params` for a new key, signed by the CA `issuer`,
/// with the usages and validity every leaf here has: its PEM and its
/// key's.
fn issue(mut params: CertificateParams, issuer: &Issuer<'_, KeyPair>, what: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate().map_err(cert_err(what))?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let cert = params.signed_by(&key, issuer).map_err(cert_err(what))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The names the serving certificate is for: localhost, the loopback
/// addresses, and `host` when it is a specific other address.
fn serving_names(host: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !host.is_unspecified() && !host.is_loopback() {
        names.push(host.to_string());
    }
    names
}

impl Pki {
    /// Reads the credentials in `state/pki/`, making what is missing; the
    /// serving certificate is made again when it does not name `host`.
    pub fn load_or_create(state: &Path, host: IpAddr) -> Result<Pki, PkiError> {
        let dir = state.join("pki");
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| PkiError::Io { action, path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io("cannot restrict permissions of", &dir))?;
        }
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            crate::store::write_atomic(&path, text.as_bytes()).map_err(io("cannot write", &path))
        };
        // The CA: kept once made, since every kubeconfig trusts it.
        let (ca_pem, ca_key) = match (read("ca.crt"), read("ca.key")) {
            (Some(cert), Some(key)) => (cert, KeyPair::from_pem(&key).map_err(cert_err("pki/ca.key"))?),
            _ => {
                let key = KeyPair::generate().map_err(cert_err("the CA's key"))?;
                let cert = ca_params().self_signed(&key).map_err(cert_err("the CA"))?;
                write("ca.key", &key.serialize_pem())?;
                write("ca.crt", &cert.pem())?;
                (cert.pem(), key)
            }
        };
        let issuer = Issuer::new(ca_params(), ca_key);
        let names = serving_names(host);
        let hosts_now = names.join(",");
        let (server_pem, server_key_pem) = match (read("apiserver.crt"), read("apiserver.key"), read("apiserver.hosts")) {
            (Some(cert), Some(key), Some(hosts)) if hosts.trim() == hosts_now => (cert, key),
            _ => {
                let mut params = CertificateParams::new(names).map_err(cert_err("the serving certificate"))?;
                params.distinguished_name.push(DnType::CommonName, "wasmpod-apiserver");
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                let (cert, key) = issue(params, &issuer, "the serving certificate")?;
                write("apiserver.key", &key)?;
                write("apiserver.crt", &cert)?;
                write("apiserver.hosts", &hosts_now)?;
                (cert, key)
            }
        };
        let (client_pem, client_key_pem) = match (read("admin.crt"), read("admin.key")) {
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                let mut params = CertificateParams::default();
                params.distinguished_name.push(DnType::CommonName, ADMIN_USER);
                params.distinguished_name.push(DnType::OrganizationName, ADMIN_GROUP);
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                let (cert, key) = issue(params, &issuer, "the client certificate")?;
                write("admin.key", &key)?;
                write("admin.crt", &cert)?;
                (cert, key)
            }
        };
        Ok(Pki { ca_pem, server_pem, server_key_pem, client_pem, client_key_pem })
    }

    /// The kubeconfig of cluster, user and context `wasmpod`, for the API
    /// at `server` (`https://127.0.0.1:6443`), as YAML.
    pub fn kubeconfig(&self, server: &str) -> String {
        use base64::Engine;
        let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: wasmpod
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: wasmpod
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: wasmpod
  context:
    cluster: wasmpod
    user: wasmpod
current-context: wasmpod
preferences: {{}}
",
            ca = b64(&self.ca_pem),
            cert = b64(&self.client_pem),
            key = b64(&self.client_key_pem),
        )
    }

    /// A rustls server configuration: the serving certificate, client
    /// certificates verified against the CA but optional (a request
    /// without one is answered 401, as kube-apiserver answers it),
    /// HTTP/1.1.
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let names = ServedNames { ca: "pki/ca.crt", cert: "pki/apiserver.crt", key: "pki/apiserver.key" };
        tls_server_config(&self.ca_pem, &self.server_pem, &self.server_key_pem, true, names)
    }
}

/// What a server's credentials are called in its errors.
pub(crate) struct ServedNames {
    pub ca: &'static str,
    pub cert: &'static str,
    pub key: &'static str,
}

/// A TLS server (HTTP/1.1) presenting `cert` and `key` (PEM) and checking
/// client certificates against `client_ca`; with `allow_anonymous`, a
/// client without one is let through (and answered 401 by the routes).
pub(crate) fn tls_server_config(client_ca: &str, cert: &str, key: &str, allow_anonymous: bool, names: ServedNames) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(client_ca.as_bytes()) {
        roots.add(c.map_err(|e| format!("{}: {e}", names.ca))?).map_err(|e| format!("{}: {e}", names.ca))?;
    }
    let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(std::sync::Arc::new(roots), provider.clone());
    let builder = if allow_anonymous { builder.allow_unauthenticated() } else { builder };
    let verifier = builder.build().map_err(|e| format!("client verifier: {e}"))?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().map_err(|e| format!("{}: {e}", names.cert))?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| format!("{}: {e}", names.key))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", names.cert))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_made_once_kept_and_the_serving_certificate_follows_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), "127.0.0.1".parse().unwrap()).unwrap();
        let again = Pki::load_or_create(dir.path(), "127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!((first.ca_pem.clone(), first.server_pem.clone(), first.client_pem.clone()), (again.ca_pem, again.server_pem, again.client_pem));
        let other = Pki::load_or_create(dir.path(), "10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(other.ca_pem, first.ca_pem, "the CA stays");
        assert_ne!(other.server_pem, first.server_pem, "a serving certificate for the new address");
        assert!(first.server_config().is_ok());
        let kubeconfig = first.kubeconfig("https://127.0.0.1:6443");
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443") && kubeconfig.contains("current-context: wasmpod"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("pki/admin.key")).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
