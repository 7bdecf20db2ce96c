//! `reqwest-crawl CA_FILE ADDRESS CONCURRENCY PER_HOST < URLS`: GETs every
//! URL read from stdin (one per line) over HTTPS, every host name resolved to
//! ADDRESS (`127.0.0.1:PORT`) and trusted through CA_FILE alone, a tokio task
//! per request, at most CONCURRENCY at once and PER_HOST per host; HTTP/2
//! when the server offers it by ALPN. Prints `{"s": seconds, "bytes": total,
//! "version": the last response's HTTP version}`.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, ca_file, address, concurrency, per_host] = arguments.as_slice() else {
        return Err("usage: reqwest-crawl CA_FILE ADDRESS CONCURRENCY PER_HOST < URLS".into());
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
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca_file)?)?)
        .pool_max_idle_per_host(per_host);
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
    let version = if version == reqwest::Version::HTTP_2 { "HTTP/2" } else { "HTTP/1.1" };
    println!("{{\"s\": {seconds}, \"bytes\": {total}, \"version\": \"{version}\"}}");
    Ok(())
}
