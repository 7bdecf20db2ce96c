//! The TLS configurations of fastio's clients. Those that trust the
//! system's roots alone (the default) are built once per process: reading
//! and parsing every system root certificate again for each client is slow,
//! and impossible while the process is out of file descriptors. Their
//! clients also share one TLS session cache, so a new client resumes
//! sessions the others made instead of a full handshake.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

/// TLS sessions kept for resumption, across every default client: one per
/// server name and then some, as rustls's own default keeps 256.
const SESSIONS: usize = 1024;

/// Built on first use; a failure (no descriptor to read the roots with) is
/// not kept, so a later client tries again. One configuration cloned for
/// each client: rustls resumes a session only under the very verifier and
/// client-certificate resolver (the same `Arc`s) that made it.
static SHARED: Mutex<Option<ClientConfig>> = Mutex::new(None);

/// A client certificate chain and its private key (`cert=`).
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    /// The certificates and the private key in `pem`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let chain = certificates_from_pem(pem)?;
        if chain.is_empty() {
            return Err("no certificate found".to_owned());
        }
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|err| format!("its key: {err}"))?;
        Ok(Self { chain, key })
    }
}

/// Every certificate in `pem`.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())
}

/// Whom a client trusts, and what it shows.
pub struct Trust<'a> {
    /// Verify the server's certificate (`false`: anything is accepted).
    pub verify: bool,
    /// Trusted besides the system's roots.
    pub extra_roots: &'a [CertificateDer<'static>],
    pub identity: Option<&'a Identity>,
}

fn provider() -> Arc<CryptoProvider> {
    // A provider the process installed, else aws-lc-rs.
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

fn shared() -> Result<ClientConfig, rustls::Error> {
    let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(config) = slot.as_ref() {
        return Ok(config.clone());
    }
    let provider = provider();
    let verifier = Arc::new(Verifier::new(Arc::clone(&provider))?);
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(SESSIONS)));
    *slot = Some(config.clone());
    Ok(config)
}

/// A client configuration for `trust`, offering `alpn`.
pub fn client_config(trust: &Trust<'_>, alpn: &[&[u8]]) -> Result<ClientConfig, rustls::Error> {
    let mut config = if trust.verify && trust.extra_roots.is_empty() && trust.identity.is_none() {
        shared()?
    } else {
        let provider = provider();
        let verifier: Arc<dyn ServerCertVerifier> = if trust.verify {
            Arc::new(Verifier::new_with_extra_roots(
                trust.extra_roots.iter().cloned(),
                Arc::clone(&provider),
            )?)
        } else {
            Arc::new(AcceptAnything(Arc::clone(&provider)))
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match trust.identity {
            Some(identity) => {
                builder.with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?
            }
            None => builder.with_no_client_auth(),
        }
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(config)
}

/// `verify=False`: every certificate is accepted, for any name.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
