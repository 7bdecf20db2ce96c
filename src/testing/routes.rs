//! The well-behaved routes of the test server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};

use super::Counters;

type Body = BoxBody<Bytes, Infallible>;

/// Bodies up to this size are sent in one piece; larger ones stream.
const WHOLE_BODY_LIMIT: usize = 4 * 1024 * 1024;
const STREAM_PIECE: usize = 64 * 1024;

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

fn json(value: &serde_json::Value) -> Response<Body> {
    respond(StatusCode::OK, "application/json", value.to_string())
}

fn not_found(path: &str) -> Response<Body> {
    text(StatusCode::NOT_FOUND, format!("no route for {path}\n"))
}

fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut response = text(status, format!("redirecting to {location}\n"));
    // from_bytes: a raw UTF-8 Location is sent as given, as some servers do.
    if let Ok(value) = HeaderValue::from_bytes(location.as_bytes()) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// `n` bytes of a repeating pattern, streamed in pieces when large.
fn pattern_body(length: usize, chunked: bool) -> Body {
    const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
    if length <= WHOLE_BODY_LIMIT && !chunked {
        let body: Vec<u8> = PATTERN.iter().copied().cycle().take(length).collect();
        return full(body);
    }
    let piece: Bytes = PATTERN
        .iter()
        .copied()
        .cycle()
        .take(STREAM_PIECE)
        .collect::<Vec<u8>>()
        .into();
    let pieces = (0..length.div_ceil(STREAM_PIECE)).map(move |number| {
        let size = STREAM_PIECE.min(length - number * STREAM_PIECE);
        Ok::<_, Infallible>(Frame::data(piece.slice(..size)))
    });
    StreamBody::new(futures::stream::iter(pieces)).boxed()
}

fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// `length` zero bytes, gzip-compressed, sent as the client reads: one
/// deflate block standing for a MiB of zeros is made once and repeated (a
/// block of back-references decodes the same after any run of zeros), so a
/// bomb of gigabytes costs the server neither memory nor compression time.
fn gzip_bomb(length: u64) -> Body {
    const MIB: u64 = 1024 * 1024;
    /// MiBs of zeros per frame sent.
    const MIBS_PER_FRAME: u64 = 16;
    static ZEROS: [u8; MIB as usize] = [0; MIB as usize];
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mib_block = deflate_block(&ZEROS);
    let mut crc = flate2::Crc::new();
    let pieces = futures::stream::unfold(Some(length), move |state| {
        let Some(left) = state else {
            return std::future::ready(None);
        };
        let mut frame = Vec::with_capacity(mib_block.len() * MIBS_PER_FRAME as usize + 64);
        if left == length {
            frame.extend_from_slice(&HEADER);
        }
        let mut left = left;
        for _ in 0..MIBS_PER_FRAME {
            if left < MIB {
                break;
            }
            frame.extend_from_slice(&mib_block);
            crc.update(&ZEROS);
            left -= MIB;
        }
        let next = if left < MIB {
            let rest = &ZEROS[..usize::try_from(left).unwrap_or(0)];
            frame.extend_from_slice(&deflate_block(rest));
            crc.update(rest);
            // The final, empty block, then the gzip trailer.
            frame.extend_from_slice(&[0x03, 0x00]);
            frame.extend_from_slice(&crc.sum().to_le_bytes());
            frame.extend_from_slice(&(length as u32).to_le_bytes());
            None
        } else {
            Some(left)
        };
        std::future::ready(Some((Ok(Frame::data(Bytes::from(frame))), next)))
    });
    StreamBody::new(pieces).boxed()
}

/// `data` as raw deflate blocks, flushed to a byte boundary and not final,
/// so they can be followed by more.
fn deflate_block(data: &[u8]) -> Vec<u8> {
    let mut compressor = flate2::Compress::new(flate2::Compression::default(), false);
    let mut output = Vec::with_capacity(data.len() / 256 + 1024);
    let _ = compressor.compress_vec(data, &mut output, flate2::FlushCompress::Sync);
    output
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut output, 4096, 5, 22);
        let _ = encoder.write_all(data);
    }
    output
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

fn zstd_window(data: &[u8], log: u64) -> Vec<u8> {
    let encode = || -> std::io::Result<Vec<u8>> {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3)?;
        encoder.window_log(u32::try_from(log).unwrap_or(27))?;
        encoder.include_contentsize(false)?;
        encoder.write_all(data)?;
        encoder.finish()
    };
    encode().unwrap_or_default()
}

/// A JSON document compressed with each coding `encoding` lists, in order.
fn compressed(encoding: &str) -> Response<Body> {
    let document = serde_json::json!({ "compressed": encoding, "padding": "x".repeat(2000) });
    let mut encoded = document.to_string().into_bytes();
    for coding in encoding.split(',').map(str::trim) {
        encoded = match coding {
            "gzip" => gzip(&encoded),
            "br" => brotli(&encoded),
            "zstd" => zstd::encode_all(encoded.as_slice(), 3).unwrap_or_default(),
            "deflate" => zlib(&encoded),
            _ => encoded,
        };
    }
    let mut response = respond(StatusCode::OK, "application/json", encoded);
    if let Ok(value) = HeaderValue::from_str(encoding) {
        response.headers_mut().insert(CONTENT_ENCODING, value);
    }
    response
}

async fn echo(request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    json(&serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": query_map(parts.uri.query()),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "body_base64": base64::engine::general_purpose::STANDARD.encode(&body),
        "http_version": format!("{:?}", parts.version),
    }))
}

/// A request `/limited/{k}` or `/queued/{k}` is serving; left when
/// dropped (also when the client gives up mid-delay).
struct Serving<'a> {
    counters: &'a Counters,
    key: String,
    count: usize,
}

impl<'a> Serving<'a> {
    fn enter(counters: &'a Counters, key: String) -> Self {
        let count = counters.entered(&key);
        Self {
            counters,
            key,
            count,
        }
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.counters.left(&self.key);
    }
}

/// `/limited/{k}` and `/queued/{k}`: a host serving `capacity` requests
/// at once, refusing beyond it or, when it `queues`, slowing down.
async fn at_capacity(
    request: &Request<Incoming>,
    query: &BTreeMap<String, String>,
    counters: &Counters,
    capacity: u64,
    queues: bool,
) -> Response<Body> {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("");
    let delay = query
        .get("delay")
        .and_then(|seconds| seconds.parse::<f64>().ok())
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .unwrap_or(Duration::from_millis(5));
    let key = if queues {
        format!("queued {host}/{capacity}")
    } else {
        format!("{host}/{capacity}")
    };
    let serving = Serving::enter(counters, key);
    let mut response = if queues {
        let load = (serving.count as f64 / capacity.max(1) as f64).max(1.0);
        tokio::time::sleep(delay.mul_f64(load)).await;
        text(StatusCode::OK, "served\n")
    } else if serving.count as u64 > capacity {
        text(StatusCode::SERVICE_UNAVAILABLE, "over capacity\n")
    } else {
        tokio::time::sleep(delay).await;
        text(StatusCode::OK, "served\n")
    };
    response
        .headers_mut()
        .insert("x-in-flight", HeaderValue::from(serving.count));
    response
}

/// Routes a request. Every route is documented in `fastio/testing.py`.
pub async fn handle(
    request: Request<Incoming>,
    counters: Arc<Counters>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let seen = counters.count(&path);
    let query = query_map(request.uri().query());
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let number = |index: usize| {
        segments
            .get(index)
            .and_then(|text| text.parse::<u64>().ok())
    };
    let response = match segments.as_slice() {
        [""] => text(StatusCode::OK, "fastio test server\n"),
        ["bytes", _] => match number(1) {
            Some(length) => {
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                let mut response = Response::new(pattern_body(length, false));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(length));
                response
            }
            None => not_found(&path),
        },
        ["chunked", _] => match number(1) {
            // No Content-Length: hyper sends Transfer-Encoding: chunked.
            Some(length) => Response::new(pattern_body(usize::try_from(length).unwrap_or(0), true)),
            None => not_found(&path),
        },
        ["stream", _] => match number(1) {
            Some(lines) => {
                // ?every=seconds between lines (default 0.005).
                let every = query
                    .get("every")
                    .and_then(|seconds| seconds.parse::<f64>().ok())
                    .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                    .unwrap_or(Duration::from_millis(5));
                let pieces = futures::stream::unfold(0_u64, move |line| async move {
                    if line >= lines {
                        return None;
                    }
                    tokio::time::sleep(every).await;
                    let frame = Frame::data(Bytes::from(format!("{{\"line\": {line}}}\n")));
                    Some((Ok::<_, Infallible>(frame), line + 1))
                });
                let mut response = Response::new(StreamBody::new(pieces).boxed());
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                );
                response
            }
            None => not_found(&path),
        },
        // n cookies whose values are `size` bytes each, for the whole site,
        // numbered from ?start=.
        ["set-cookies", count, size] => match (count.parse::<usize>(), size.parse::<usize>()) {
            (Ok(count), Ok(size)) => {
                let mut response = text(StatusCode::OK, format!("{count} cookies set\n"));
                let start = query
                    .get("start")
                    .and_then(|start| start.parse::<usize>().ok())
                    .unwrap_or(0);
                for number in start..start + count.min(10_000) {
                    let cookie = format!("c{number:05}={}; Path=/", "x".repeat(size.min(65_536)));
                    if let Ok(value) = HeaderValue::from_str(&cookie) {
                        response
                            .headers_mut()
                            .append(http::header::SET_COOKIE, value);
                    }
                }
                response
            }
            _ => not_found(&path),
        },
        // n header fields of 64 bytes each (a Set-Cookie every tenth).
        ["many-headers", count] => match count.parse::<usize>() {
            Ok(count) => {
                let mut response = text(StatusCode::OK, format!("{count} header fields\n"));
                let headers = response.headers_mut();
                for number in 0..count {
                    let name = if number % 10 == 0 {
                        http::header::SET_COOKIE.to_string()
                    } else {
                        format!("x-field-{number:05}")
                    };
                    let value = format!("v{number:05}={}", "f".repeat(40));
                    if let (Ok(name), Ok(value)) = (
                        http::HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(&value),
                    ) {
                        headers.append(name, value);
                    }
                }
                response
            }
            Err(_) => not_found(&path),
        },
        // A host of capacity k (per Host header: names mapped with
        // resolve=) that takes ?delay= seconds (0.005) a request. Beyond k,
        // /limited answers 503 at once; /queued never refuses, but each
        // request takes the delay times the requests it is serving over k.
        // Each answer says in X-In-Flight how many it was serving.
        [kind @ ("limited" | "queued"), _] => match number(1) {
            Some(capacity) => {
                let queues = *kind == "queued";
                at_capacity(&request, &query, &counters, capacity, queues).await
            }
            None => not_found(&path),
        },
        ["delay", seconds] => match seconds
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
        {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                text(
                    StatusCode::OK,
                    format!("waited {} s\n", delay.as_secs_f64()),
                )
            }
            None => not_found(&path),
        },
        ["status", code] => match code
            .parse::<u16>()
            .ok()
            .and_then(|code| StatusCode::from_u16(code).ok())
        {
            Some(status) => text(status, format!("{status}\n")),
            None => not_found(&path),
        },
        ["redirect", _] => match number(1) {
            Some(0) => text(StatusCode::OK, "redirects done\n"),
            Some(remaining) => redirect(StatusCode::FOUND, &format!("/redirect/{}", remaining - 1)),
            None => not_found(&path),
        },
        ["redirect-loop"] => redirect(StatusCode::FOUND, "/redirect-loop"),
        ["redirect-to"] => {
            let status = query
                .get("status")
                .and_then(|code| code.parse::<u16>().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::FOUND);
            match query.get("url") {
                Some(location) => redirect(status, location),
                None => text(StatusCode::BAD_REQUEST, "redirect-to needs ?url=\n"),
            }
        }
        ["echo"] | ["echo", ..] => echo(request).await,
        ["retry-after", seconds] => {
            let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
            if let Ok(value) = HeaderValue::from_str(seconds) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            response
        }
        ["flaky", _] => {
            // ?fail=N&status=503&retry_after=S&delay=D: the first N requests
            // to this path get `status` (with Retry-After when given) after D
            // seconds, later ones 200 at once.
            let failures = query
                .get("fail")
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1);
            let status = query
                .get("status")
                .and_then(|code| code.parse::<u16>().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if seen <= failures {
                if let Some(delay) = query
                    .get("delay")
                    .and_then(|seconds| seconds.parse::<f64>().ok())
                    .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                {
                    tokio::time::sleep(delay).await;
                }
                let mut response = text(status, format!("failure {seen} of {failures}\n"));
                if let Some(value) = query
                    .get("retry_after")
                    .and_then(|value| HeaderValue::from_str(value).ok())
                {
                    response.headers_mut().insert(RETRY_AFTER, value);
                }
                response
            } else {
                text(
                    StatusCode::OK,
                    format!("success after {failures} failures\n"),
                )
            }
        }
        ["gzip-bomb", _] => match number(1) {
            // n zero bytes, gzip-compressed to about a thousandth of that.
            Some(length) => {
                let mut response = Response::new(gzip_bomb(length));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                response
                    .headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            None => not_found(&path),
        },
        ["gzip"] => compressed("gzip"),
        ["brotli"] => compressed("br"),
        ["zstd"] => compressed("zstd"),
        ["deflate"] => compressed("deflate"),
        // /encoded/gzip,br: compressed with each in turn.
        ["encoded", codings] => compressed(&codings.replace("%20", " ")),
        ["zstd-window", _] => match number(1) {
            // 1 MB compressed with a window of 2^n bytes, declared in its frame.
            Some(log) => {
                let plain: Vec<u8> = (0..250_000_u32).flat_map(u32::to_le_bytes).collect();
                let mut response = respond(
                    StatusCode::OK,
                    "application/octet-stream",
                    zstd_window(&plain, log),
                );
                response
                    .headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("zstd"));
                response
            }
            None => not_found(&path),
        },
        ["bad-gzip"] => {
            let mut response = respond(
                StatusCode::OK,
                "text/plain",
                &b"this is not gzip at all"[..],
            );
            response
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        ["json"] => json(&serde_json::json!({
            "name": "fastio", "numbers": [1, 2, 3], "nested": {"ok": true, "none": null}, "text": "héllo ✓"
        })),
        ["text"] => {
            // ?charset=latin-1&value=...&repeat=n : the value, n times,
            // encoded in that charset (other charsets: sent as UTF-8).
            let charset = query.get("charset").map_or("utf-8", String::as_str);
            let repeat = query
                .get("repeat")
                .and_then(|count| count.parse::<usize>().ok())
                .unwrap_or(1)
                .min(10_000_000);
            let value = query.get("value").map_or("héllo", String::as_str);
            let value = &value.repeat(repeat);
            let encoded: Vec<u8> = if charset.eq_ignore_ascii_case("latin-1")
                || charset.eq_ignore_ascii_case("iso-8859-1")
            {
                value
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect()
            } else {
                value.as_bytes().to_vec()
            };
            respond(
                StatusCode::OK,
                &format!("text/plain; charset={charset}"),
                encoded,
            )
        }
        ["bytes-raw"] => {
            // Invalid UTF-8 with no charset: text falls back to replacement.
            respond(StatusCode::OK, "text/plain", &b"ok \xff\xfe end"[..])
        }
        ["headers"] => {
            // ?Name=value sets response headers; two Set-Cookie always.
            let mut response = text(StatusCode::OK, "headers\n");
            for (name, value) in &query {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            response
                .headers_mut()
                .append("set-cookie", HeaderValue::from_static("a=1"));
            response
                .headers_mut()
                .append("set-cookie", HeaderValue::from_static("b=2"));
            response
        }
        ["counts"] => json(&serde_json::json!(counters.snapshot())),
        _ => not_found(&path),
    };
    Ok(response)
}
