//! `reqwest-ceiling URL COUNT CONCURRENCY [post|keep|names=N]`: requests URL
//! COUNT times with at most CONCURRENCY in flight, reads every body, and
//! prints `{"s": seconds, "bytes": total}`. With `post`, each request POSTs
//! its own 1 KB JSON document, as bench/http.py's JSON-POST clients do; with
//! `keep`, every body is kept until the end, as a `fetch_all` result list
//! keeps them; with `names=N`, request `i` has `NAME` in URL replaced by
//! `h{i % N}.test` (bench/dns.py: resolved by the system's resolver).

use std::time::Instant;

use futures::stream::{self, StreamExt};

/// Item `index`'s JSON body: the same bytes bench/http.py's `payload` gives.
fn payload(index: usize) -> String {
    let filler: String = index.to_string().repeat(1000).chars().take(1000).collect();
    format!("{{\"id\":{index},\"payload\":\"{filler}\"}}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().collect();
    let (url, count, concurrency, mode) = match arguments.as_slice() {
        [_, url, count, concurrency] => (url, count, concurrency, ""),
        [_, url, count, concurrency, mode]
            if mode == "post" || mode == "keep" || mode.starts_with("names=") =>
        {
            (url, count, concurrency, mode.as_str())
        }
        _ => {
            return Err("usage: reqwest-ceiling URL COUNT CONCURRENCY [post|keep|names=N]".into())
        }
    };
    let names: Option<usize> = match mode.strip_prefix("names=") {
        Some(names) => Some(names.parse()?),
        None => None,
    };
    let post = mode == "post";
    let count: usize = count.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let client = reqwest::Client::builder().build()?;
    let started = Instant::now();
    let mut total = 0_usize;
    let mut kept = Vec::new();
    let mut responses = stream::iter(0..count)
        .map(|index| {
            let url = match names {
                Some(names) => url.replace("NAME", &format!("h{}.test", index % names)),
                None => url.clone(),
            };
            let request = if post {
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(payload(index))
            } else {
                client.get(&url)
            };
            async move { request.send().await?.bytes().await }
        })
        .buffer_unordered(concurrency);
    while let Some(body) = responses.next().await {
        let body = body?;
        total += body.len();
        if mode == "keep" {
            kept.push(body);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(kept);
    println!("{{\"s\": {seconds}, \"bytes\": {total}}}");
    Ok(())
}
