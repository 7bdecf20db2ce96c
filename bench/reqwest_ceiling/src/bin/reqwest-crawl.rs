//! `reqwest-crawl CA_FILE ADDRESS CONCURRENCY PER_HOST [TLS] < URLS`: GETs
//! every URL read from stdin (one per line) over HTTPS, every host name
//! resolved to ADDRESS (`127.0.0.1:PORT`) and trusted through CA_FILE, a
//! tokio task per request, at most CONCURRENCY at once and PER_HOST per host;
//! HTTP/2 when the server offers it by ALPN. TLS picks the client's TLS
//! configuration: `reqwest` (its own, as fastio has it; the default), or
//! `VERIFIER-PROVIDER` built here, VERIFIER `platform` (the system's roots
//! plus CA_FILE, rustls-platform-verifier) or `webpki` (CA_FILE alone),
//! PROVIDER `aws-lc-rs` or `ring`. Prints `{"s": seconds, "bytes": total,
//! "version": the last response's HTTP version}`.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::Semaphore;

type Failure = Box<dyn std::error::Error>;

/// A rustls configuration as `chosen` names it (see the module doc), trusting
/// the certificates in `ca`, offering HTTP/2 and HTTP/1.1 by ALPN.
fn tls_config(chosen: &str, ca: &[u8]) -> Result<rustls::ClientConfig, Failure> {
    let (verifier, provider) = chosen.split_once('-').ok_or("TLS: VERIFIER-PROVIDER")?;
    let provider = Arc::new(match provider {
        "aws-lc-rs" => rustls::crypto::aws_lc_rs::default_provider(),
        "ring" => rustls::crypto::ring::default_provider(),
        other => return Err(format!("unknown provider {other}").into()),
    });
    let roots: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(ca).collect::<Result<_, _>>()?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let mut config = match verifier {
        "platform" => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)?,
            ))
            .with_no_client_auth(),
        "webpki" => {
            let mut store = rustls::RootCertStore::empty();
            for root in roots {
                store.add(root)?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
        other => return Err(format!("unknown verifier {other}").into()),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let arguments: Vec<String> = std::env::args().collect();
    let (ca_file, address, concurrency, per_host, tls) = match arguments.as_slice() {
        [_, ca, address, concurrency, per_host] => (ca, address, concurrency, per_host, "reqwest"),
        [_, ca, address, concurrency, per_host, tls] => {
            (ca, address, concurrency, per_host, tls.as_str())
        }
        _ => {
            return Err(
                "usage: reqwest-crawl CA_FILE ADDRESS CONCURRENCY PER_HOST [TLS] < URLS".into(),
            )
        }
    };
    let address: SocketAddr = address.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let per_host: usize = per_host.parse()?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let urls: Vec<reqwest::Url> = input
        .lines()
        .map(reqwest::Url::parse)
        .collect::<Result<_, _>>()?;
    let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let ca = std::fs::read(ca_file)?;
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(per_host);
    builder = match tls {
        "reqwest" => builder.add_root_certificate(reqwest::Certificate::from_pem(&ca)?),
        chosen => builder.tls_backend_preconfigured(tls_config(chosen, &ca)?),
    };
    for url in &urls {
        let host = url.host_str().unwrap_or_default().to_owned();
        if !hosts.contains_key(&host) {
            builder = builder.resolve(&host, address);
            hosts.insert(host, Arc::new(Semaphore::new(per_host)));
        }
    }
    let client = builder.build()?;
    let slots = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(urls.len());
    for url in urls {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let host = Arc::clone(&hosts[url.host_str().unwrap_or_default()]);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = slot;
            let _host = host.acquire_owned().await?;
            let response = client.get(url).send().await?;
            let version = response.version();
            let body = response.bytes().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((body.len(), version))
        }));
    }
    let mut total = 0_usize;
    let mut version = reqwest::Version::HTTP_11;
    for task in tasks {
        let (size, its_version) = task.await?.map_err(|err| err.to_string())?;
        total += size;
        version = its_version;
    }
    let seconds = started.elapsed().as_secs_f64();
    let version = if version == reqwest::Version::HTTP_2 {
        "HTTP/2"
    } else {
        "HTTP/1.1"
    };
    println!("{{\"s\": {seconds}, \"bytes\": {total}, \"version\": \"{version}\"}}");
    Ok(())
}
