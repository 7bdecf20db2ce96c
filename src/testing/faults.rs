//! The fault listener: raw TCP answering with broken HTTP on purpose, by
//! path. hyper cannot be made to send any of this.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Counters;

/// The largest request head read before giving up on a client.
const MAX_HEAD: usize = 64 * 1024;

pub async fn serve(
    listener: std::net::TcpListener,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
) {
    super::accept_until_stopped(listener, stopped, move |stream| {
        answer(stream, Arc::clone(&counters))
    })
    .await;
}

/// Reads the request head and returns its path (query excluded).
async fn read_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = head.split(|&byte| byte == b'\n').next()?;
    let target = std::str::from_utf8(line).ok()?.split_whitespace().nth(1)?;
    Some(target.split('?').next().unwrap_or(target).to_owned())
}

/// Closes with a TCP reset instead of an orderly close.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn answer(mut stream: TcpStream, counters: Arc<Counters>) {
    let Some(path) = read_path(&mut stream).await else {
        return;
    };
    let _ = counters.count(&path);
    match path.as_str() {
        // The request arrives; the answer is a reset.
        "/reset" => reset(stream),
        // Headers and part of the body, then a reset.
        "/reset-mid-body" => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
            let _ = stream.write_all(head).await;
            let _ = stream.write_all(&[b'x'; 1000]).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            reset(stream);
        }
        // A compressed body that is empty, as HEAD, 204 and 304 answers are.
        "/empty-gzip" => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n";
            let _ = stream.write_all(head).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // A gzip stream that stops halfway, framed correctly.
        "/truncated-gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let text: Vec<u8> = (0..100_000_u32).flat_map(u32::to_le_bytes).collect();
            let _ = std::io::Write::write_all(&mut encoder, &text);
            let mut gzipped = encoder.finish().unwrap_or_default();
            gzipped.truncate(gzipped.len() / 2);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                gzipped.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&gzipped).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The head of a gzip body, part of it, then a reset: the transport
        // failed, not the encoding.
        "/reset-mid-gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let noise: Vec<u8> = (0..200_000_u32)
                .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            let _ = std::io::Write::write_all(&mut encoder, &noise);
            let gzipped = encoder.finish().unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                gzipped.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&gzipped[..gzipped.len() / 4]).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            reset(stream);
        }
        // Content-Length promises more than comes before the close.
        "/short-body" => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(head).await;
            let _ = stream.write_all(&[b'x'; 50]).await;
            let _ = stream.shutdown().await;
        }
        // A chunk size that is not hexadecimal.
        "/bad-chunked" => {
            let response =
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n";
            let _ = stream.write_all(response).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Not HTTP at all.
        "/garbage" => {
            let _ = stream.write_all(b"THIS IS NOT HTTP\r\n\r\n").await;
            let _ = stream.shutdown().await;
        }
        // Accepts, reads the request, never answers.
        "/hang" => std::future::pending::<()>().await,
        // A valid head, then the body one byte per second.
        "/slowloris" => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n";
            let _ = stream.write_all(head).await;
            for _ in 0..60 {
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        // Declares a terabyte, sends two small pieces, then waits.
        "/huge-length" => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n";
            let _ = stream.write_all(head).await;
            for _ in 0..2 {
                let _ = stream.write_all(&[b'x'; 100]).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        // A chunked body that never ends, 64 KiB a chunk, as fast as it is read.
        "/endless-chunked" => {
            let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = stream.write_all(head).await;
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend_from_slice(&[b'y'; 0x10000]);
            chunk.extend_from_slice(b"\r\n");
            while stream.write_all(&chunk).await.is_ok() {}
        }
        // 500 KB of headers: 5,000 of 100 bytes each, past every limit.
        "/huge-headers" => {
            let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
            for number in 0..5000 {
                response.extend_from_slice(format!("X-Filler-{number:04}: ").as_bytes());
                response.extend_from_slice(&[b'f'; 84]);
                response.extend_from_slice(b"\r\n");
            }
            response.extend_from_slice(b"Content-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
        // The request line of an HTTP/2 preface: an HTTP/1.1 answer, and the
        // connection kept while the client reads it (a close with its
        // frames unread would reset it first).
        "*" => {
            // After the client's request is on its way, not during its handshake.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let response = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            let _ = stream.write_all(response).await;
            let _ = stream.flush().await;
            let mut sink = [0_u8; 4096];
            let drain =
                async { while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        }
        _ => {
            let response =
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(response).await;
        }
    }
}
