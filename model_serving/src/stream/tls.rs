//! TLS for `mqtts://` brokers: a rustls client configuration that trusts the system's roots
//! (rustls-native-certs: SSL_CERT_FILE, SSL_CERT_DIR, then the system store; the image sets
//! SSL_CERT_FILE) and the CA certificates of MQTT_CA_FILE, with the ring provider the rest of
//! the service's TLS uses. The broker's name (or IP address) in MQTT_URL is what its
//! certificate must name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("MQTT_CA_FILE {path}: cannot read its certificates: {reason}; expected a PEM file of CA certificates")]
    CaFile { path: PathBuf, reason: String },
    #[error("MQTT_CA_FILE {path}: holds no certificate (expected PEM blocks `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: PathBuf },
    #[error(
        "mqtts://: no trusted CA certificate: the system has none (set SSL_CERT_FILE or SSL_CERT_DIR, or install ca-certificates) and MQTT_CA_FILE is not set"
    )]
    NoRoots,
    #[error("mqtts://: building the TLS configuration failed")]
    Config(#[source] rustls::Error),
}

/// The client configuration for an `mqtts://` broker.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    // A system store with a few unreadable entries still serves: use what loads.
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    if !native.errors.is_empty() {
        tracing::debug!(errors = native.errors.len(), "some system CA certificates could not be read");
    }
    let mut from_file = 0;
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::CaFile { path: path.to_path_buf(), reason: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate { path: path.to_path_buf() });
        }
        for cert in certs {
            roots.add(cert).map_err(|e| TlsError::CaFile { path: path.to_path_buf(), reason: e.to_string() })?;
            from_file += 1;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    tracing::info!(
        system = added,
        system_ignored = ignored,
        ca_file = from_file,
        "trusted CA certificates for the MQTT broker"
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
