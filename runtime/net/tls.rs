//! TLS for what the runtime itself opens on a pod's behalf: outgoing
//! wasi:http `https://` requests, verified as the platform verifies
//! (rustls-platform-verifier: the OS's verifier on macOS and Windows, the
//! system's roots on Linux, `SSL_CERT_FILE` / `SSL_CERT_DIR` honoured),
//! and `scheme: HTTPS` probes and hooks, which the kubelet sends without
//! verifying the certificate. rustls with ring.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

/// The client configuration: verifying as the platform does (the OS's
/// verifier and store on macOS and Windows; on Linux webpki with the
/// system's roots, `SSL_CERT_FILE` / `SSL_CERT_DIR` honoured), or
/// (`verify` false, as the kubelet's probes) accepting any certificate.
fn config(verify: bool) -> std::io::Result<Arc<ClientConfig>> {
    static VERIFIED: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    if verify {
        VERIFIED
            .get_or_init(|| {
                use rustls_platform_verifier::BuilderVerifierExt;
                let config = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_platform_verifier()
                    .map_err(|e| format!("the system's certificate store: {e}"))?
                    .with_no_client_auth();
                Ok(Arc::new(with_alpn(config)))
            })
            .clone()
            .map_err(std::io::Error::other)
    } else {
        Ok(UNVERIFIED
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
            .clone())
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
    tokio_rustls::TlsConnector::from(config(verify)?).connect(name, io).await
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
