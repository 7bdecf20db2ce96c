//! Content-Encoding undone by fastio, step by step: a decoded body keeps its
//! `Content-Encoding` and `Content-Length`, which httpx users keep (a
//! download's progress total), and the raw bytes can be handed out instead.
//!
//! Each step yields at most [`STEP`] decoded bytes, so a small compressed
//! piece that expands enormously is checked against the body limit as it
//! grows; the zstd window is capped as RFC 9659 allows HTTP to.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder};
use bytes::{Bytes, BytesMut};
use futures::{stream, StreamExt};
use http::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};
use http::Method;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

use super::error::{ErrorKind, FastioError};
use super::wire::WireResponse;

/// What fastio asks for when the request names no Accept-Encoding.
pub const ACCEPTED: HeaderValue = HeaderValue::from_static("gzip, br, zstd, deflate");

/// The most decoded bytes one step produces.
pub const STEP: usize = 64 * 1024;

/// The most codings stacked on one body; real servers use one.
const MOST_CODINGS: usize = 3;

/// zstd's window: 8 MiB, the most RFC 9659 lets an HTTP sender use.
const ZSTD_WINDOW_LOG: u32 = 23;

/// A content coding fastio can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// HTTP's "deflate" is the zlib format.
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn named(name: &str) -> Option<Option<Self>> {
        match name.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Some(Self::Gzip)),
            "deflate" => Some(Some(Self::Deflate)),
            "br" => Some(Some(Self::Brotli)),
            "zstd" => Some(Some(Self::Zstd)),
            "identity" | "" => Some(None),
            _ => None,
        }
    }
}

/// The codings to undo on `url`'s response, in the order they were
/// applied; empty when the body is kept as it is: no Content-Encoding, a
/// HEAD response, or a coding fastio does not know (the body is then the
/// server's bytes, as with httpx). More than [`MOST_CODINGS`] is a
/// DecodeError.
pub fn codings(
    method: &Method,
    url: &str,
    headers: &HeaderMap,
) -> Result<Vec<Coding>, FastioError> {
    if method == Method::HEAD || !headers.contains_key(CONTENT_ENCODING) {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Ok(Vec::new());
        };
        for name in value.split(',') {
            match Coding::named(name.trim()) {
                Some(Some(coding)) => found.push(coding),
                Some(None) => {}
                None => return Ok(Vec::new()),
            }
            if found.len() > MOST_CODINGS {
                return Err(FastioError::for_request(
                    ErrorKind::Decode,
                    method.as_str(),
                    url,
                    &format!("more than {MOST_CODINGS} content codings on one body"),
                ));
            }
        }
    }
    Ok(found)
}

/// The decoded body of one response, read step by step.
pub struct Decoder {
    state: State,
    /// Raw bytes received so far.
    downloaded: Arc<AtomicU64>,
}

enum State {
    /// Nothing read yet: an empty body needs no decoding (HEAD, 204, 304).
    Unread(WireResponse, Vec<Coding>),
    Reading(Pin<Box<dyn AsyncRead + Send>>),
    Ended,
}

impl Decoder {
    /// Undoes `codings` (as [`codings`] gave them) on `response`'s body,
    /// adding the raw bytes received to `downloaded`.
    pub fn new(response: WireResponse, codings: Vec<Coding>, downloaded: Arc<AtomicU64>) -> Self {
        Self {
            state: State::Unread(response, codings),
            downloaded,
        }
    }

    /// The next at most [`STEP`] decoded bytes; `None` at the end. A
    /// transport failure comes back as an `io::Error` holding the
    /// `WireError`; any other error is the encoding's own.
    pub async fn next(&mut self) -> io::Result<Option<Bytes>> {
        if let State::Unread(..) = self.state {
            let State::Unread(mut response, codings) =
                std::mem::replace(&mut self.state, State::Ended)
            else {
                return Ok(None);
            };
            let Some(first) = response.chunk().await.map_err(io::Error::other)? else {
                return Ok(None);
            };
            self.state = State::Reading(decoding(first, response, &codings, &self.downloaded));
        }
        let State::Reading(reader) = &mut self.state else {
            return Ok(None);
        };
        let mut piece = BytesMut::with_capacity(STEP);
        let read = reader.read_buf(&mut piece).await?;
        if read == 0 {
            self.state = State::Ended;
            return Ok(None);
        }
        Ok(Some(piece.freeze()))
    }
}

/// `first` and the rest of `response`'s body, counted into `downloaded`,
/// through a decoder for each coding, the last applied undone first.
fn decoding(
    first: Bytes,
    response: WireResponse,
    codings: &[Coding],
    downloaded: &Arc<AtomicU64>,
) -> Pin<Box<dyn AsyncRead + Send>> {
    let counter = Arc::clone(downloaded);
    let wire = stream::once(async move { Ok(first) })
        .chain(response.into_stream())
        .map(move |piece| {
            let piece = piece.map_err(io::Error::other)?;
            counter.fetch_add(piece.len() as u64, Ordering::Relaxed);
            Ok::<_, io::Error>(piece)
        });
    let mut reader: Pin<Box<dyn AsyncBufRead + Send>> = Box::pin(StreamReader::new(wire));
    let mut layers = codings.iter().rev().peekable();
    loop {
        let Some(coding) = layers.next() else {
            return Box::pin(reader);
        };
        let decoded: Pin<Box<dyn AsyncRead + Send>> = match coding {
            Coding::Gzip => {
                let mut decoder = GzipDecoder::new(reader);
                decoder.multiple_members(true);
                Box::pin(decoder)
            }
            Coding::Deflate => Box::pin(ZlibDecoder::new(reader)),
            Coding::Brotli => Box::pin(BrotliDecoder::new(reader)),
            Coding::Zstd => Box::pin(ZstdDecoder::with_params(
                reader,
                &[async_compression::zstd::DParameter::window_log_max(
                    ZSTD_WINDOW_LOG,
                )],
            )),
        };
        if layers.peek().is_none() {
            return decoded;
        }
        reader = Box::pin(BufReader::with_capacity(STEP, decoded));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://example.test/";

    fn encoded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                CONTENT_ENCODING,
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn codings_are_read_in_the_order_applied() {
        assert_eq!(
            codings(&Method::GET, URL, &encoded(&["gzip, br"])),
            Ok(vec![Coding::Gzip, Coding::Brotli])
        );
        assert_eq!(
            codings(&Method::GET, URL, &encoded(&["GZIP", "identity", "zstd"])),
            Ok(vec![Coding::Gzip, Coding::Zstd])
        );
        assert_eq!(
            codings(&Method::GET, URL, &encoded(&["deflate"])),
            Ok(vec![Coding::Deflate])
        );
    }

    #[test]
    fn unknown_codings_and_head_responses_are_kept_as_they_are() {
        assert_eq!(
            codings(&Method::GET, URL, &encoded(&["gzip, compress"])),
            Ok(vec![])
        );
        assert_eq!(codings(&Method::HEAD, URL, &encoded(&["gzip"])), Ok(vec![]));
        assert_eq!(codings(&Method::GET, URL, &HeaderMap::new()), Ok(vec![]));
    }

    #[test]
    fn a_deep_stack_of_codings_is_refused() {
        assert!(codings(&Method::GET, URL, &encoded(&["gzip, gzip, gzip, gzip"])).is_err());
    }
}
