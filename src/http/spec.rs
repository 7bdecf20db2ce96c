//! One request as plain Rust data, and what building one needs that is
//! not about Python: URL rules, a session's defaults applied, multipart.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Method};
use url::Url;

use super::budget::BodyBudget;
use super::defaults::Limit;
use super::error::{clipped, ErrorKind, FastioError};
use super::retry::{Methods, RetryPolicy};
use super::session::{merge_cookies, Defaults, Session};
use super::upload::UploadSource;

/// One request, as plain Rust data a tokio task can own.
#[derive(Clone)]
pub struct RequestSpec {
    pub method: Method,
    pub url: Url,
    /// Shared: every request of a bulk call starts from the same headers,
    /// and its Response keeps them as the request's.
    pub headers: Arc<HeaderMap>,
    pub body: Option<RequestBody>,
    /// Deadline of each attempt on the wire, from when it has its
    /// connection slot; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The longest wait for a connection slot; `None` waits as long as it takes.
    pub pool_timeout: Option<Duration>,
    /// The longest wait for the server to take more of the body; `None`
    /// waits as long as it takes.
    pub write_timeout: Option<Duration>,
    /// The longest a connection this request opens may take to make.
    pub connect_timeout: Option<Duration>,
    /// The longest wait for the server between two reads.
    pub read_timeout: Option<Duration>,
    pub retry: RetryPolicy,
    /// The most body bytes taken; `None`: see [`RequestSpec::body_limits`].
    pub max_body_size: Option<u64>,
    /// Whether redirects are followed; `None`: as the session says.
    pub follow_redirects: Option<bool>,
    /// Where it is sent from: the client's settings, pool and cookie jar.
    pub session: Arc<Session>,
    /// The bytes in flight its bulk call shares with its other requests.
    pub body_budget: Option<Arc<BodyBudget>>,
    /// False: the body is read, decoded and counted, but not kept.
    pub keep_body: bool,
}

/// The most bytes of one body held whole in memory unless the user says
/// otherwise: beyond it, a body is for streaming.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 256 * 1024 * 1024;

/// How much of a body is taken: read whole into memory, or streamed
/// (where only a limit the user set applies).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub streamed: Option<u64>,
    pub whole: u64,
}

/// What a request sends.
#[derive(Clone)]
pub enum RequestBody {
    Bytes(Bytes),
    /// Chunks from Python, sent as they come; can be sent only once.
    Stream(UploadSource),
}

impl RequestSpec {
    /// The limit on a body read whole into memory: this request's, else
    /// the session's, else [`DEFAULT_MAX_BODY_SIZE`].
    pub fn whole_body_limit(&self) -> u64 {
        self.body_limits().whole
    }

    /// The limits on this request's body, read whole or streamed.
    pub fn body_limits(&self) -> BodyLimits {
        let set = self.max_body_size;
        BodyLimits {
            streamed: set,
            whole: set.unwrap_or(DEFAULT_MAX_BODY_SIZE),
        }
    }

    /// Whether this request can be sent again (a retry, a 307 redirect).
    pub fn can_resend(&self) -> bool {
        !matches!(self.body, Some(RequestBody::Stream(_)))
    }
}

/// What a request, or a bulk call for all of its requests, asks for over
/// the [`Defaults`] it starts from; anything not given is theirs.
#[derive(Default)]
pub struct Asked {
    /// Replace headers of the same name.
    pub headers: HeaderMap,
    /// Over the defaults' cookies of the same name.
    pub cookies: Vec<(String, String)>,
    pub timeout: Limit,
    pub pool_timeout: Limit,
    pub write_timeout: Limit,
    /// Over the session's (a client's `connect_timeout`).
    pub connect_timeout: Limit,
    /// Over the session's (a client's `read_timeout`).
    pub read_timeout: Limit,
    pub retries: Option<u32>,
    pub retry_methods: Option<Methods>,
    pub max_body_size: Option<u64>,
}

impl Defaults {
    /// These defaults with `asked` over them: the one place where what a
    /// request gives and what it starts from are decided. The cookies are
    /// merged into the headers, so the result can be built on again.
    pub fn with(&self, asked: Asked) -> Result<Defaults, String> {
        let retry = RetryPolicy {
            retries: asked.retries.unwrap_or(self.retry.retries),
            methods: asked.retry_methods.unwrap_or(self.retry.methods),
            ..self.retry
        };
        // Nothing to merge (the common request): the headers are shared.
        let nothing_to_merge = asked.headers.is_empty()
            && asked.cookies.is_empty()
            && self.cookies.is_empty()
            && !self.headers.contains_key(http::header::COOKIE);
        let headers = if nothing_to_merge {
            Arc::clone(&self.headers)
        } else {
            Arc::new(merged_headers(self, asked.headers, &asked.cookies)?)
        };
        Ok(Defaults {
            base_url: self.base_url.clone(),
            headers,
            params: self.params.clone(),
            cookies: Vec::new(),
            timeout: asked.timeout.or(self.timeout),
            pool_timeout: asked.pool_timeout.or(self.pool_timeout),
            write_timeout: asked.write_timeout.or(self.write_timeout),
            connect_timeout: asked.connect_timeout.over(self.connect_timeout),
            read_timeout: asked.read_timeout.over(self.read_timeout),
            retry,
            max_body_size: asked.max_body_size.or(self.max_body_size),
        })
    }

    /// The request for `method url` (with `params` and `body` added) on
    /// these defaults, sent from `session`. The body's `content_type` is
    /// sent unless the headers name one.
    pub fn request(
        &self,
        session: &Arc<Session>,
        method: Method,
        url: &str,
        params: &[(String, String)],
        body: Option<RequestBody>,
        content_type: Option<&str>,
    ) -> Result<RequestSpec, FastioError> {
        let mut url = resolve_url(self, url)?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
            sendable(&url)?;
        }
        // Built on defaults from `with`, whose cookies are in the headers.
        debug_assert!(self.cookies.is_empty());
        let mut headers = Arc::clone(&self.headers);
        if let Some(kind) = content_type {
            if !headers.contains_key(http::header::CONTENT_TYPE) {
                if let Ok(value) = HeaderValue::from_str(kind) {
                    Arc::make_mut(&mut headers).insert(http::header::CONTENT_TYPE, value);
                }
            }
        }
        Ok(RequestSpec {
            method,
            url,
            headers,
            body,
            timeout: self.timeout,
            pool_timeout: self.pool_timeout,
            write_timeout: self.write_timeout,
            connect_timeout: self.connect_timeout.or(session.settings.connect_timeout),
            read_timeout: self.read_timeout.or(session.settings.read_timeout),
            retry: self.retry,
            max_body_size: self.max_body_size,
            follow_redirects: None,
            session: Arc::clone(session),
            body_budget: None,
            keep_body: true,
        })
    }
}

/// Parses an absolute http or https URL.
pub fn parse_url_text(text: &str) -> Result<Url, FastioError> {
    let url = Url::parse(text).map_err(|err| invalid_url(text, &err.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(invalid_url(
                text,
                &format!("scheme {other:?} is not http or https"),
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid_url(text, "no host"));
    }
    sendable(&url)?;
    Ok(url)
}

/// The error for an invalid URL; a long one is shown cut short.
pub fn invalid_url(text: &str, why: &str) -> FastioError {
    FastioError::new(
        ErrorKind::InvalidUrl,
        Some(text.to_owned()),
        format!("invalid URL {:?}: {why}", clipped(text)),
    )
}

/// Refuses a URL that parses but cannot go on the wire: longer than HTTP's
/// request target allows, or with characters a request line may not hold.
pub fn sendable(url: &Url) -> Result<(), FastioError> {
    match http::Uri::try_from(url.as_str()) {
        Ok(_) => Ok(()),
        Err(_) if url.as_str().len() > MAX_URL_LENGTH => Err(invalid_url(
            url.as_str(),
            &format!("longer than {MAX_URL_LENGTH} bytes"),
        )),
        Err(err) => Err(invalid_url(url.as_str(), &format!("cannot be sent: {err}"))),
    }
}

/// The longest URL `http::Uri`, and so hyper, can send.
const MAX_URL_LENGTH: usize = u16::MAX as usize - 1;

/// An HTTP method name, upper-cased; `None` if it is not a valid token.
pub fn parse_method(method: &str) -> Option<Method> {
    let upper = method.to_ascii_uppercase();
    Method::from_bytes(upper.as_bytes()).ok()
}

/// One part of a multipart body.
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Whether `text` holds a control character other than a tab: what could
/// end a header line or hide in one.
pub fn has_control(text: &str) -> bool {
    text.chars().any(|c| c != '\t' && c.is_control())
}

/// Encodes a multipart/form-data body (RFC 7578); returns it with its
/// Content-Type.
pub fn multipart(parts: Vec<Part>) -> (Bytes, String) {
    let boundary = boundary_for(&parts);
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.body);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        Bytes::from(body),
        format!("multipart/form-data; boundary={boundary}"),
    )
}

/// A boundary that occurs in no part: a body that contained it would end
/// its part early (RFC 2046 §5.1.1 leaves this to the sender).
fn boundary_for(parts: &[Part]) -> String {
    loop {
        let boundary = format!(
            "fastio-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let found = parts.iter().any(|part| {
            part.body
                .windows(boundary.len())
                .any(|window| window == boundary.as_bytes())
        });
        if !found {
            return boundary;
        }
    }
}

/// Resolves `url` against a base URL the way httpx does: a relative URL is
/// appended to the base's path.
fn join_base(base: &Url, text: &str) -> Result<Url, FastioError> {
    if Url::parse(text).is_ok() {
        return parse_url_text(text);
    }
    let mut joined = base.clone();
    let path = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        text.trim_start_matches('/')
    );
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (path, None),
    };
    joined.set_path(&path);
    joined.set_query(query.as_deref());
    parse_url_text(joined.as_str())
}

/// A request's URL on a session's defaults: joined to the base URL if
/// relative, with the default params added.
pub fn resolve_url(defaults: &Defaults, text: &str) -> Result<Url, FastioError> {
    let mut url = match &defaults.base_url {
        Some(base) => join_base(base, text)?,
        None => parse_url_text(text)?,
    };
    if !defaults.params.is_empty() {
        url.query_pairs_mut().extend_pairs(&defaults.params);
        sendable(&url)?;
    }
    Ok(url)
}

/// The headers every request of a session starts with, `given` replacing
/// defaults of the same name, and the cookies as one Cookie header.
pub fn merged_headers(
    defaults: &Defaults,
    given: HeaderMap,
    cookies: &[(String, String)],
) -> Result<HeaderMap, String> {
    let mut headers = (*defaults.headers).clone();
    override_headers(&mut headers, given);
    // One Cookie header: the given header's, then the client's cookies=
    // with this request's over them; the first of a name wins (the jar's
    // come last).
    let mut all_cookies = defaults.cookies.clone();
    for (name, value) in cookies {
        match all_cookies.iter_mut().find(|(known, _)| known == name) {
            Some(default) => default.1.clone_from(value),
            None => all_cookies.push((name.clone(), value.clone())),
        }
    }
    let pairs = cookie_header(&all_cookies)?;
    let given = headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes);
    if let Some(merged) = merge_cookies(given.chain(pairs.as_ref().map(HeaderValue::as_bytes))) {
        headers.insert(http::header::COOKIE, merged);
    }
    Ok(headers)
}

/// Sets `name` in `headers`, replacing a default of the same name.
fn override_headers(headers: &mut HeaderMap, given: HeaderMap) {
    // `given` yields a repeated name once, then `None` for its next values.
    let mut current: Option<http::HeaderName> = None;
    for (name, value) in given {
        if let Some(name) = name {
            headers.remove(&name);
            current = Some(name);
        }
        if let Some(name) = &current {
            headers.append(name.clone(), value);
        }
    }
}

fn cookie_header(cookies: &[(String, String)]) -> Result<Option<HeaderValue>, String> {
    if cookies.is_empty() {
        return Ok(None);
    }
    check_cookies(cookies)?;
    let text = cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    HeaderValue::from_str(&text)
        .map(Some)
        .map_err(|_| format!("invalid cookies: {text:?}"))
}

/// Refuses cookies a Cookie header cannot carry (see [`cookie_pair_check`]).
pub fn check_cookies(cookies: &[(String, String)]) -> Result<(), String> {
    cookies
        .iter()
        .try_for_each(|(name, value)| cookie_pair_check(name, value))
}

/// Refuses a cookie a Cookie header cannot carry as given: a name that is
/// not a token, or a value with a space, `,`, `;`, `"`, `\\` or a control
/// character, which would end the cookie early (`1; admin=true` sent raw
/// is two cookies). The value is not shown: it may be a credential.
fn cookie_pair_check(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&byte));
    if !token {
        return Err(format!(
            "invalid cookie name {:?}: a cookie name is a token (letters, digits, \
             and none of ()<>@,;:\\\"/[]?={{}} or spaces)",
            clipped(name)
        ));
    }
    let octets = value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value);
    if !octets
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && !b",;\"\\".contains(&byte))
    {
        return Err(format!(
            "the value of cookie {name:?} holds a space, ',', ';', '\"', '\\' or a \
             control character, which a Cookie header cannot carry; encode it \
             (urllib.parse.quote)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Splits a multipart body back into (name, filename, body) per part.
    fn parts_of(body: &[u8], boundary: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
        let delimiter = format!("\r\n--{boundary}");
        let mut text = b"\r\n".to_vec();
        text.extend_from_slice(body);
        let mut found = Vec::new();
        let mut rest: &[u8] = &text;
        while let Some(start) = find(rest, delimiter.as_bytes()) {
            rest = &rest[start + delimiter.len()..];
            if rest.starts_with(b"--") {
                break;
            }
            rest = &rest[2..]; // CRLF after the boundary line
            let head_end = find(rest, b"\r\n\r\n").unwrap();
            let head = String::from_utf8(rest[..head_end].to_vec()).unwrap();
            rest = &rest[head_end + 4..];
            let end = find(rest, delimiter.as_bytes()).unwrap();
            let name = head
                .split("name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let filename = head
                .split("filename=\"")
                .nth(1)
                .map(|text| text.split('"').next().unwrap().to_owned());
            found.push((name.to_owned(), filename, rest[..end].to_vec()));
            rest = &rest[end..];
        }
        found
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_parses_or_is_an_invalid_url(text in ".{0,80}") {
            match parse_url_text(&text) {
                Ok(url) => {
                    prop_assert!(matches!(url.scheme(), "http" | "https"));
                    prop_assert!(url.host_str().is_some_and(|host| !host.is_empty()));
                }
                Err(error) => prop_assert_eq!(error.kind, ErrorKind::InvalidUrl),
            }
        }

        #[test]
        fn multipart_bodies_split_back_into_their_parts(
            fields in proptest::collection::vec(
                ("[a-z]{1,8}", proptest::option::of("[a-z.]{1,8}"),
                 proptest::collection::vec(any::<u8>(), 0..200),
                 any::<bool>()),
                0..5,
            )
        ) {
            let parts: Vec<Part> = fields
                .iter()
                .map(|(name, filename, body, fake)| {
                    let mut body = body.clone();
                    if *fake {
                        // Boundary-like text inside a body must not end the part.
                        body.extend_from_slice(b"\r\n--fastio-0000000000000000\r\n");
                    }
                    Part {
                        name: name.clone(),
                        filename: filename.clone(),
                        content_type: None,
                        body: Bytes::from(body),
                    }
                })
                .collect();
            let expected: Vec<_> = parts
                .iter()
                .map(|part| (part.name.clone(), part.filename.clone(), part.body.to_vec()))
                .collect();
            let (body, content_type) = multipart(parts);
            let boundary = content_type.split("boundary=").nth(1).unwrap();
            prop_assert_eq!(parts_of(&body, boundary), expected);
        }
    }

    #[test]
    fn urls_must_be_absolute_http_or_https() {
        assert!(parse_url_text("http://127.0.0.1:8080/path?q=1").is_ok());
        assert!(parse_url_text("https://example.com").is_ok());
        for bad in [
            "",
            "not a url",
            "/relative",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://",
        ] {
            let error = parse_url_text(bad).err();
            assert!(
                matches!(&error, Some(error) if error.kind == ErrorKind::InvalidUrl),
                "{bad:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn methods_are_validated_and_upper_cased() {
        assert_eq!(parse_method("get"), Some(Method::GET));
        assert!(matches!(parse_method("PURGE"), Some(method) if method.as_str() == "PURGE"));
        assert_eq!(parse_method("GE T"), None);
    }
}
