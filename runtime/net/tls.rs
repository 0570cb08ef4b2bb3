//! TLS for what the runtime itself opens on a pod's behalf: outgoing
//! wasi:http `https://` requests, verified against the system's roots
//! (rustls-native-certs: the platform's store, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), and `scheme: HTTPS` probes and hooks, which the
//! kubelet sends without verifying the certificate. rustls with ring.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

/// The client configuration: verifying against the system's roots, or
/// (`verify` false, as the kubelet's probes) accepting any certificate.
fn config(verify: bool) -> Arc<ClientConfig> {
    static VERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    if verify {
        VERIFIED
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                // Certificates the platform's store cannot parse are skipped,
                // as every TLS client does.
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                let config = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Arc::new(with_alpn(config))
            })
            .clone()
    } else {
        UNVERIFIED
            .get_or_init(|| {
                let provider = provider();
                let config = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default versions")
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                    .with_no_client_auth();
                Arc::new(with_alpn(config))
            })
            .clone()
    }
}

fn with_alpn(mut config: ClientConfig) -> ClientConfig {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Opens TLS over `io` to `host` (a name, or an IP literal), verifying the
/// server's certificate unless `verify` is false.
pub(crate) async fn connect<IO>(io: IO, host: &str, verify: bool) -> std::io::Result<tokio_rustls::client::TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
    tokio_rustls::TlsConnector::from(config(verify)).connect(name, io).await
}

/// Whether a TLS failure is about the certificate (wasi:http's
/// `TLS-certificate-error`) rather than the protocol.
pub(crate) fn is_certificate_error(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)))
}

/// The kubelet's probes skip verification (`InsecureSkipVerify`): any
/// certificate is taken, signatures still checked for the handshake.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
