//! The TLS configuration of clients that trust the system's roots alone
//! (the default), built once per process: reqwest would read and parse
//! every system root certificate again for each client (slow, and
//! impossible while the process is out of file descriptors). Their clients
//! also share one TLS session cache, so a new client resumes sessions the
//! others made instead of a full handshake.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;
use rustls_platform_verifier::Verifier;

/// TLS sessions kept for resumption, across every default client: one per
/// server name and then some, as rustls's own default keeps 256.
const SESSIONS: usize = 1024;

/// Built on first use; a failure (no descriptor to read the roots with) is
/// not kept, so a later client tries again. One configuration cloned for
/// each client: rustls resumes a session only under the very verifier and
/// client-certificate resolver (the same `Arc`s) that made it.
static SHARED: Mutex<Option<ClientConfig>> = Mutex::new(None);

fn shared() -> Result<ClientConfig, rustls::Error> {
    let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(config) = slot.as_ref() {
        return Ok(config.clone());
    }
    // As reqwest chooses: a provider the process installed, else aws-lc-rs.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
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

/// A client configuration trusting the system's roots, offering `alpn`
/// (as reqwest would for the client's HTTP versions).
pub fn system_roots(alpn: &[&[u8]]) -> Result<ClientConfig, rustls::Error> {
    let mut config = shared()?;
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(config)
}
