//! `reqwest-ceiling URL COUNT CONCURRENCY`: GETs URL COUNT times with at
//! most CONCURRENCY in flight, reads every body, and prints
//! `{"s": seconds, "bytes": total}`.

use std::time::Instant;

use futures::stream::{self, StreamExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, url, count, concurrency] = arguments.as_slice() else {
        return Err("usage: reqwest-ceiling URL COUNT CONCURRENCY".into());
    };
    let count: usize = count.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let client = reqwest::Client::builder().build()?;
    let started = Instant::now();
    let mut total = 0_usize;
    let mut responses = stream::iter(0..count)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            async move { client.get(url).send().await?.bytes().await }
        })
        .buffer_unordered(concurrency);
    while let Some(body) = responses.next().await {
        total += body?.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"s\": {seconds}, \"bytes\": {total}}}");
    Ok(())
}
