//! What one HTTP exchange produced, as plain Rust data: status, headers
//! packed in two allocations, body, and the redirects that led there.
//!
//! Why packed: a bulk fetch keeps thousands of Responses, and freeing each
//! one's `HeaderMap` (its entries, its index and one buffer per value) was
//! most of what dropping a `fetch_all` result cost.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};

use super::error::FastioError;
use super::timing::Timings;

/// What one HTTP exchange produced, free of Python.
#[derive(Debug)]
pub struct ResponseData {
    pub method: Method,
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderList,
    /// The URL of this response (after redirects, for the final one).
    pub url: String,
    /// The URL as the caller gave it.
    pub request_url: String,
    /// The headers of the request that got this response (cookies from
    /// the jar aside).
    pub request_headers: Arc<HeaderMap>,
    pub elapsed: Duration,
    pub body: Bytes,
    /// Body bytes as they came over the wire, before any decoding.
    pub downloaded: u64,
    /// For a body read but not kept (`keep_body` false): its decoded length.
    pub discarded: Option<u64>,
    /// The redirect responses that led here, oldest first.
    pub history: Vec<ResponseData>,
    /// Its URL's position in the input of `fetch_all`/`fetch_iter`.
    pub index: Option<usize>,
    pub timings: Timings,
}

/// A result of `fetch_all`/`fetch_iter` with its URL's input position.
pub type Indexed = (usize, Result<ResponseData, FastioError>);

impl ResponseData {
    /// A 200 answer to input item `index` with a body of `size` zero bytes,
    /// for unit tests.
    #[cfg(test)]
    pub fn for_test(index: usize, size: usize) -> Self {
        Self {
            method: Method::GET,
            status: StatusCode::OK,
            version: Version::HTTP_11,
            headers: HeaderList::pack(&HeaderMap::new()),
            url: String::new(),
            request_url: String::new(),
            request_headers: Arc::new(HeaderMap::new()),
            elapsed: Duration::ZERO,
            body: Bytes::from(vec![0_u8; size]),
            downloaded: size as u64,
            discarded: None,
            history: Vec::new(),
            index: Some(index),
            timings: Timings::default(),
        }
    }
}

/// The links of one `Link` value (RFC 8288), each as its `url` then its
/// parameters, split as httpx's `parse_header_links` does.
pub fn parse_links(value: &str) -> Vec<Vec<(String, String)>> {
    const QUOTES: &[char] = &[' ', '\'', '"'];
    let value = value.trim_matches(QUOTES);
    if value.is_empty() {
        return Vec::new();
    }
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        // Links are separated by a comma, optional spaces, then "<".
        let (one, next) = match find_link_separator(rest) {
            Some((end, start)) => (&rest[..end], Some(&rest[start..])),
            None => (rest, None),
        };
        let (url, parameters) = one.split_once(';').unwrap_or((one, ""));
        let mut link = vec![(
            "url".to_owned(),
            url.trim_matches(&['<', '>', ' ', '\'', '"'][..]).to_owned(),
        )];
        for parameter in parameters.split(';') {
            let Some((name, value)) = parameter.split_once('=') else {
                break;
            };
            link.push((
                name.trim_matches(QUOTES).to_owned(),
                value.trim_matches(QUOTES).to_owned(),
            ));
        }
        links.push(link);
        match next {
            Some(next) => rest = next,
            None => return links,
        }
    }
}

/// Where the first ", *<" in `text` starts and where the next link's text
/// (after the "<") starts.
fn find_link_separator(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(comma) = text[at..].find(',') {
        let comma = at + comma;
        let mut after = comma + 1;
        while bytes.get(after) == Some(&b' ') {
            after += 1;
        }
        if bytes.get(after) == Some(&b'<') {
            return Some((comma, after + 1));
        }
        at = comma + 1;
    }
    None
}

/// Every (name, value) pair of a response as `HeaderMap` holds them: names
/// lower-case and in the order first received, each name's values together
/// and in order.
///
/// Cloning shares the two buffers: a view (Python's `Headers`) holds a
/// clone instead of its Response.
#[derive(Debug, Clone)]
pub struct HeaderList {
    /// name₀ value₀ name₁ value₁ … back to back.
    text: Arc<[u8]>,
    /// For pair i: where its name ends (`ends[2i]`) and its value ends
    /// (`ends[2i+1]`) in `text`.
    ends: Arc<[usize]>,
}

impl HeaderList {
    pub fn pack(headers: &HeaderMap) -> Self {
        let size: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        let mut text = Vec::with_capacity(size);
        let mut ends = Vec::with_capacity(headers.len() * 2);
        for (name, value) in headers {
            text.extend_from_slice(name.as_str().as_bytes());
            ends.push(text.len());
            text.extend_from_slice(value.as_bytes());
            ends.push(text.len());
        }
        Self {
            text: text.into(),
            ends: ends.into(),
        }
    }

    /// Every (name, value) pair, repeated names included, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let mut start = 0;
        self.ends.chunks_exact(2).map(move |pair| {
            let (name_end, value_end) = (pair[0], pair[1]);
            let name = &self.text[start..name_end];
            let value = &self.text[name_end..value_end];
            start = value_end;
            // Names come from `http::HeaderName`: ASCII, so UTF-8.
            (std::str::from_utf8(name).unwrap_or_default(), value)
        })
    }

    /// The values of `name` (any case), in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(sent, _)| sent.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The pairs back in a `HeaderMap` (they were checked when packed).
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.iter() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }

    /// The distinct names, in the order first received.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.iter().map(|(name, _)| name).collect();
        // A name's pairs are together (see the type).
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    proptest! {
        /// Packing keeps every pair, in order, and lookups agree with
        /// `HeaderMap`'s.
        #[test]
        fn packed_headers_match_the_header_map(
            pairs in proptest::collection::vec(("[a-z][a-z0-9-]{0,12}", proptest::collection::vec(32_u8..=255, 0..40)), 0..20)
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in &pairs {
                let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) else {
                    continue;
                };
                map.append(name, value);
            }
            let list = HeaderList::pack(&map);
            let packed: Vec<(String, Vec<u8>)> = list.iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
            let expected: Vec<(String, Vec<u8>)> = map.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
            prop_assert_eq!(packed, expected);
            for name in map.keys() {
                let upper = name.as_str().to_ascii_uppercase();
                let values: Vec<&[u8]> = list.get_all(&upper).collect();
                let expected: Vec<&[u8]> = map.get_all(name).iter().map(HeaderValue::as_bytes).collect();
                prop_assert_eq!(values, expected);
            }
            let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
            prop_assert_eq!(list.names(), names);
        }
    }

    #[test]
    fn a_name_not_sent_has_no_values() {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("text/plain"));
        let list = HeaderList::pack(&map);
        assert_eq!(list.get("Content-Type"), Some(&b"text/plain"[..]));
        assert_eq!(list.get("content-length"), None);
        assert_eq!(
            HeaderList::pack(&HeaderMap::new()).names(),
            Vec::<&str>::new()
        );
    }

    fn pairs(link: &[(String, String)]) -> Vec<(&str, &str)> {
        link.iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    #[test]
    fn links_split_as_httpx_splits_them() {
        let links = parse_links(
            r#"<https://api.test/items?page=2>; rel="next", <https://api.test/items?page=9>; rel=last; title="end""#,
        );
        assert_eq!(links.len(), 2);
        assert_eq!(
            pairs(&links[0]),
            [("url", "https://api.test/items?page=2"), ("rel", "next")]
        );
        assert_eq!(
            pairs(&links[1]),
            [
                ("url", "https://api.test/items?page=9"),
                ("rel", "last"),
                ("title", "end")
            ]
        );
        // A comma inside a URL does not split it.
        let one = parse_links("<https://a.test/x,y>; rel=self");
        assert_eq!(pairs(&one[0])[0], ("url", "https://a.test/x,y"));
        assert!(parse_links("  ").is_empty());
    }
}
