//! Redirects, followed by fastio itself: the next hop's request (method,
//! body and headers as the status and origins say), or why it is refused.

use std::sync::Arc;

use http::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, TRANSFER_ENCODING};
use http::{Method, StatusCode};
use url::Url;

use super::error::{clipped, ErrorKind, FastioError, SECRET_HEADERS};
use super::spec::RequestSpec;
use super::wire::WireResponse;

/// The next request if `response` is a redirect to follow.
pub fn redirect(
    spec: &RequestSpec,
    response: &WireResponse,
    allow_https_to_http: bool,
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
    if keeps_method && !spec.can_resend() {
        // A streamed body is gone once sent: the redirect is the answer.
        return Ok(None);
    }
    let refuse = |why: String| {
        FastioError::for_request(
            ErrorKind::TooManyRedirects,
            spec.method.as_str(),
            spec.url.as_str(),
            &why,
        )
    };
    let location = location_text(location.as_bytes());
    let target = spec.url.join(&location).map_err(|err| {
        refuse(format!(
            "the redirect's Location {:?} is invalid: {err}",
            clipped(&location)
        ))
    })?;
    super::spec::sendable(&target).map_err(|err| refuse(err.message.clone()))?;
    match target.scheme() {
        "http" | "https" => {}
        other => {
            return Err(refuse(format!(
                "refused a redirect to a {other}: URL ({target})"
            )))
        }
    }
    if spec.url.scheme() == "https" && target.scheme() == "http" && !allow_https_to_http {
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
            Arc::make_mut(&mut next.headers),
            &[CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING],
        );
    }
    if !same_origin(&spec.url, &target) {
        // Credentials are for the origin they were given for, and a Host
        // header names it: none of them goes on to another.
        let headers = Arc::make_mut(&mut next.headers);
        strip(headers, &[HOST]);
        for name in SECRET_HEADERS {
            headers.remove(*name);
        }
    }
    next.url = target;
    Ok(Some(next))
}

/// A Location value as URL text: bytes past ASCII (raw UTF-8, as many
/// servers send, or worse) are percent-encoded, as browsers do.
fn location_text(raw: &[u8]) -> String {
    let mut text = String::with_capacity(raw.len());
    for &byte in raw {
        if byte.is_ascii() {
            text.push(char::from(byte));
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
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
