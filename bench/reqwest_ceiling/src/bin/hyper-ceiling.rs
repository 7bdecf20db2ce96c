//! `hyper-ceiling URL COUNT CONCURRENCY`: `reqwest-ceiling`'s GETs sent
//! through hyper-util's pooled client directly, with no reqwest layer above
//! it (each URL still parsed by the url crate, as a caller's string is):
//! what reqwest itself costs per request. Plain HTTP only. Prints
//! `{"s": seconds, "bytes": total}`.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, url, count, concurrency] = arguments.as_slice() else {
        return Err("usage: hyper-ceiling URL COUNT CONCURRENCY".into());
    };
    let count: usize = count.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let started = Instant::now();
    let mut total = 0_usize;
    let mut bodies = stream::iter(0..count)
        .map(|_| {
            let client = client.clone();
            async move {
                let parsed = url::Url::parse(url)?;
                let response = client.get(parsed.as_str().parse()?).await?;
                Ok::<Bytes, Failure>(response.into_body().collect().await?.to_bytes())
            }
        })
        .buffer_unordered(concurrency);
    while let Some(body) = bodies.next().await {
        total += body?.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"s\": {seconds}, \"bytes\": {total}}}");
    Ok(())
}
