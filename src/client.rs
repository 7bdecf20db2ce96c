//! Sending requests: the process's shared reqwest clients, redirects
//! followed by fastio itself (so every hop is a Response in `history` and
//! the policy is ours), and reqwest errors sorted into fastio's kinds.

use std::error::Error as StdError;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header::{
    HeaderMap, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING,
};
use http::{Method, StatusCode};
use url::Url;

use crate::errors::{ErrorKind, FastioError};
use crate::request::RequestSpec;
use crate::response::ResponseData;
use crate::runtime;

/// How long a connection may take to open, by default.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Redirects followed before `TooManyRedirects`, as in httpx and requests.
pub const MAX_REDIRECTS: usize = 10;

/// The shared clients of this process (one verifying TLS, one not, each
/// made on first use) and the fork generation they belong to.
struct SharedClients {
    generation: u64,
    verifying: Option<reqwest::Client>,
    unverified: Option<reqwest::Client>,
}

static SHARED: Mutex<Option<SharedClients>> = Mutex::new(None);

fn cached_client(verify: bool) -> Option<reqwest::Client> {
    let shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let clients = shared
        .as_ref()
        .filter(|clients| clients.generation == runtime::generation())?;
    if verify {
        clients.verifying.clone()
    } else {
        clients.unverified.clone()
    }
}

/// The shared client. Building one loads the TLS roots, which can take a
/// while, so it is built on a blocking thread, never on the event loop.
pub async fn shared_client(verify: bool) -> Result<reqwest::Client, FastioError> {
    if let Some(client) = cached_client(verify) {
        return Ok(client);
    }
    let built = tokio::task::spawn_blocking(move || build_client(verify))
        .await
        .map_err(|err| {
            FastioError::internal(format!("building the HTTP client failed: {err}"))
        })??;
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let generation = runtime::generation();
    let clients = match shared.as_mut() {
        Some(clients) if clients.generation == generation => clients,
        _ => shared.insert(SharedClients {
            generation,
            verifying: None,
            unverified: None,
        }),
    };
    let slot = if verify {
        &mut clients.verifying
    } else {
        &mut clients.unverified
    };
    // If another task built one meanwhile, share that one's pool.
    Ok(slot.get_or_insert(built).clone())
}

fn build_client(verify: bool) -> Result<reqwest::Client, FastioError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fastio/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(!verify)
        .build()
        .map_err(|err| FastioError::internal(format!("building the HTTP client failed: {err}")))
}

/// Sends `spec`, follows redirects and reads the whole body, within the
/// request's total deadline.
pub async fn execute(spec: RequestSpec) -> Result<ResponseData, FastioError> {
    let method = spec.method.to_string();
    let request_url = spec.url.to_string();
    match spec.timeout {
        Some(limit) => tokio::time::timeout(limit, follow(spec))
            .await
            .unwrap_or_else(|_| {
                Err(FastioError::for_request(
                    ErrorKind::Timeout,
                    &method,
                    &request_url,
                    &format!(
                        "timed out after {} s (the whole request)",
                        limit.as_secs_f64()
                    ),
                ))
            }),
        None => follow(spec).await,
    }
}

async fn follow(mut spec: RequestSpec) -> Result<ResponseData, FastioError> {
    let started = Instant::now();
    let client = shared_client(spec.verify).await?;
    let request_url = spec.url.to_string();
    let mut history = Vec::new();
    loop {
        let response = send(&client, &spec).await?;
        let next = redirect(&spec, &response)?;
        let mut data = read(response, &spec, &request_url, started).await?;
        match next {
            None => {
                data.history = history;
                return Ok(data);
            }
            Some(next) => {
                if history.len() >= MAX_REDIRECTS {
                    return Err(FastioError::for_request(
                        ErrorKind::TooManyRedirects,
                        spec.method.as_str(),
                        &request_url,
                        &format!("more than {MAX_REDIRECTS} redirects (last to {})", next.url),
                    ));
                }
                history.push(data);
                spec = next;
            }
        }
    }
}

async fn send(
    client: &reqwest::Client,
    spec: &RequestSpec,
) -> Result<reqwest::Response, FastioError> {
    let mut request = client
        .request(spec.method.clone(), spec.url.clone())
        .headers(spec.headers.clone());
    if let Some(body) = &spec.body {
        request = request.body(body.clone());
    }
    request
        .send()
        .await
        .map_err(|err| classify(&err, spec.method.as_str(), spec.url.as_str()))
}

async fn read(
    response: reqwest::Response,
    spec: &RequestSpec,
    request_url: &str,
    started: Instant,
) -> Result<ResponseData, FastioError> {
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let url = response.url().to_string();
    let body = response
        .bytes()
        .await
        .map_err(|err| classify(&err, spec.method.as_str(), &url))?;
    Ok(ResponseData {
        method: spec.method.clone(),
        status,
        version,
        headers,
        url,
        request_url: request_url.to_owned(),
        elapsed: started.elapsed(),
        body,
        history: Vec::new(),
    })
}

/// The next request if `response` is a redirect to follow.
fn redirect(
    spec: &RequestSpec,
    response: &reqwest::Response,
) -> Result<Option<RequestSpec>, FastioError> {
    let status = response.status();
    let keeps_method = match status {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => false,
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
        _ => return Ok(None),
    };
    let Some(location) = response.headers().get(LOCATION) else {
        return Ok(None);
    };
    let refuse = |why: String| {
        FastioError::for_request(
            ErrorKind::TooManyRedirects,
            spec.method.as_str(),
            spec.url.as_str(),
            &why,
        )
    };
    let location = location
        .to_str()
        .map_err(|_| refuse("the redirect's Location is not text".to_owned()))?;
    let target = spec.url.join(location).map_err(|err| {
        refuse(format!(
            "the redirect's Location {location:?} is invalid: {err}"
        ))
    })?;
    match target.scheme() {
        "http" | "https" => {}
        other => {
            return Err(refuse(format!(
                "refused a redirect to a {other}: URL ({target})"
            )))
        }
    }
    if spec.url.scheme() == "https" && target.scheme() == "http" {
        return Err(refuse(format!(
            "refused a redirect from https to http ({target})"
        )));
    }
    let mut next = spec.clone();
    // As browsers do: 303 always, and 301/302 after a POST, become a GET
    // without a body; 307/308 repeat the request as it was.
    let becomes_get = !keeps_method
        && (status == StatusCode::SEE_OTHER || spec.method == Method::POST)
        && spec.method != Method::HEAD;
    if becomes_get {
        next.method = Method::GET;
        next.body = None;
        strip(
            &mut next.headers,
            &[CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING],
        );
    }
    if !same_origin(&spec.url, &target) {
        strip(
            &mut next.headers,
            &[AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION],
        );
    }
    next.url = target;
    Ok(Some(next))
}

fn strip(headers: &mut HeaderMap, names: &[http::HeaderName]) {
    for name in names {
        headers.remove(name);
    }
}

fn same_origin(from: &Url, to: &Url) -> bool {
    from.scheme() == to.scheme()
        && from.host_str() == to.host_str()
        && from.port_or_known_default() == to.port_or_known_default()
}

/// Sorts a reqwest error into fastio's kinds, with a message naming the
/// request, what failed, and the whole chain of causes.
pub fn classify(error: &reqwest::Error, method: &str, url: &str) -> FastioError {
    // reqwest's own outermost message repeats the URL the prefix names.
    let causes = match error.source() {
        Some(source) => cause_chain(source),
        None => error.to_string(),
    };
    let (kind, what) = if error.is_timeout() {
        (ErrorKind::Timeout, "timed out")
    } else if error.is_connect() {
        if is_tls(error) {
            (ErrorKind::Tls, "TLS handshake failed")
        } else {
            (ErrorKind::Connect, "connect failed")
        }
    } else if is_protocol_violation(error) {
        (ErrorKind::Protocol, "the server broke the HTTP protocol")
    } else if has_hyper(error, |_| true) {
        // Reset, closed early, shorter than announced: the transport failed.
        (
            ErrorKind::Read,
            "the connection failed while reading the response",
        )
    } else if error.is_decode() {
        // No transport error inside: the content encoding itself is broken.
        (ErrorKind::Decode, "decoding the body failed")
    } else if error.is_body() || error.is_request() {
        (
            ErrorKind::Read,
            "the connection failed while reading the response",
        )
    } else {
        (ErrorKind::Request, "the request failed")
    };
    FastioError::for_request(kind, method, url, &format!("{what}: {causes}"))
}

/// A malformed response: unparsable head, or a body framing hyper rejects
/// as invalid (such as a bad chunk size, which hyper reports as an I/O error
/// of kind InvalidInput).
fn is_protocol_violation(error: &(dyn StdError + 'static)) -> bool {
    has_hyper(error, hyper::Error::is_parse)
        || causes(error).any(|cause| {
            cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
                )
            }) && causes(error).any(|outer| outer.is::<hyper::Error>())
        })
}

/// Each cause's message once, outermost first, skipping any that only
/// repeats the one before it.
fn cause_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = cause.source();
    }
    parts.join(": ")
}

fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&cause| cause.source())
}

fn is_tls(error: &(dyn StdError + 'static)) -> bool {
    causes(error).any(|cause| {
        // rustls errors reach us wrapped in io::Errors, sometimes two deep,
        // and an io::Error's `source()` skips the error it wraps.
        let mut current: &(dyn StdError + 'static) = cause;
        loop {
            if current.is::<rustls::Error>() {
                return true;
            }
            match current
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
            {
                Some(inner) => current = inner,
                None => return false,
            }
        }
    })
}

fn has_hyper(error: &(dyn StdError + 'static), test: fn(&hyper::Error) -> bool) -> bool {
    causes(error).any(|cause| cause.downcast_ref::<hyper::Error>().is_some_and(test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            &url("http://a.test/x"),
            &url("http://a.test:80/y")
        ));
        assert!(!same_origin(&url("http://a.test/"), &url("http://b.test/")));
        assert!(!same_origin(
            &url("http://a.test/"),
            &url("http://a.test:8080/")
        ));
        assert!(!same_origin(
            &url("http://a.test/"),
            &url("https://a.test/")
        ));
    }
}
