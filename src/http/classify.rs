//! Failures on the wire sorted into fastio's kinds, each message naming the
//! request, what failed and the whole chain of causes.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;

use super::connect::{ConnectTimedOut, ProxyFailed};
use super::dns::DnsFailure;
use super::error::{cause_chain, out_of_descriptors, ErrorKind, FastioError, NO_DESCRIPTORS};
use super::session::{MAX_HEADER_LIST, MAX_RESPONSE_HEADERS};
use super::timing::Timings;
use super::upload::BodyFailed;
use super::wire::{Failure, WireError};

/// Sorts a failure on the wire into fastio's kinds, with a message naming
/// the request, what failed, and the whole chain of causes.
pub fn classify(error: &WireError, method: &str, url: &str) -> FastioError {
    let classified = classify_untimed(error, method, url);
    match &error.tried {
        Some(made) => classified.over(Timings::tried(Some(Arc::clone(made)))),
        None => classified,
    }
}

/// [`classify`] without the timings.
fn classify_untimed(error: &WireError, method: &str, url: &str) -> FastioError {
    // An io::Error's source() skips the error it wraps: get_ref reaches it.
    let body_failed = causes(error).find_map(|cause| {
        cause.downcast_ref::<BodyFailed>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<BodyFailed>())
        })
    });
    if let Some(failed) = body_failed {
        return FastioError::for_request(ErrorKind::Request, method, url, &failed.0);
    }
    // hyper-util's client error only says which step failed, as `what` does.
    let source = error.source().map(|source| {
        if source.is::<hyper_util::client::legacy::Error>() {
            source.source().unwrap_or(source)
        } else {
            source
        }
    });
    let chain = match source {
        Some(source) => cause_chain(source),
        None => error.to_string(),
    };
    let (kind, what): (ErrorKind, Cow<'static, str>) = if out_of_descriptors(error) {
        (ErrorKind::Connect, NO_DESCRIPTORS.into())
    } else if let Some(kind) = timed_out(error) {
        (kind, "timed out".into())
    } else if error.failure == Failure::Connect {
        if let Some(failure) = causes(error).find_map(|cause| cause.downcast_ref::<DnsFailure>()) {
            match failure {
                DnsFailure::NotFound(_) => (ErrorKind::NameNotFound, "connect failed".into()),
                DnsFailure::Failed { .. } => (ErrorKind::Dns, "connect failed".into()),
            }
        } else if causes(error).any(|cause| cause.is::<ProxyFailed>()) {
            (ErrorKind::Proxy, "connect failed".into())
        } else if is_tls(error) {
            (ErrorKind::Tls, "TLS handshake failed".into())
        } else {
            (ErrorKind::Connect, "connect failed".into())
        }
    } else if let Some(why) = client_certificate_refused(error) {
        (ErrorKind::Tls, why.into())
    } else if has_hyper(error, hyper::Error::is_parse_too_large) {
        (ErrorKind::Protocol, head_too_large().into())
    } else if header_list_too_large(error) {
        (ErrorKind::Protocol, header_list_too_large_message().into())
    } else if is_protocol_violation(error) {
        (
            ErrorKind::Protocol,
            "the server broke the HTTP protocol".into(),
        )
    } else if error.failure == Failure::Write {
        (
            ErrorKind::Write,
            "the connection failed while sending the request".into(),
        )
    } else if has_hyper(error, |_| true) {
        // Reset, closed early, shorter than announced: the transport failed.
        (
            ErrorKind::Read,
            "the connection failed while reading the response".into(),
        )
    } else if matches!(error.failure, Failure::Body | Failure::Request) {
        (
            ErrorKind::Read,
            "the connection failed while reading the response".into(),
        )
    } else {
        (ErrorKind::Request, "the request failed".into())
    };
    FastioError::for_request(kind, method, url, &format!("{what}: {chain}"))
}

/// Which timeout passed, if one did: the connect timeout (hyper-util's
/// connector tells its own per-address limit as an I/O error of kind
/// TimedOut) or the read timeout.
fn timed_out(error: &WireError) -> Option<ErrorKind> {
    if error.failure == Failure::TimedOut {
        return Some(ErrorKind::ReadTimeout);
    }
    let connect = error.failure == Failure::Connect
        && causes(error).any(|cause| {
            cause.is::<ConnectTimedOut>()
                || cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        });
    connect.then_some(ErrorKind::ConnectTimeout)
}

/// What a response head over fastio's HTTP/1.1 limits is told as.
fn head_too_large() -> String {
    format!(
        "the response head is over fastio's limits ({MAX_RESPONSE_HEADERS} header fields, \
         or about 400 KiB of head)"
    )
}

/// What a response h2 refused on its stream is told as.
fn header_list_too_large_message() -> String {
    format!(
        "the response was refused on its HTTP/2 stream: its header list is over \
         fastio's limit ({} KiB, as HTTP/2 counts it), or malformed",
        MAX_HEADER_LIST / 1024
    )
}

/// An HTTP/2 response refused on its stream by h2 itself: a header block
/// past `MAX_HEADER_LIST`, or one malformed (h2 does not tell them apart).
fn header_list_too_large(error: &(dyn StdError + 'static)) -> bool {
    causes(error).any(|cause| {
        cause.downcast_ref::<h2::Error>().is_some_and(|h2| {
            h2.is_library() && h2.is_reset() && h2.reason() == Some(h2::Reason::PROTOCOL_ERROR)
        })
    })
}

/// A malformed response: unparsable head, or a body framing hyper rejects
/// as invalid (such as a bad chunk size, which hyper reports as an I/O error
/// of kind InvalidInput).
fn is_protocol_violation(error: &(dyn StdError + 'static)) -> bool {
    has_hyper(error, hyper::Error::is_parse)
        || causes(error).any(|cause| {
            cause.downcast_ref::<h2::Error>().is_some_and(|h2| {
                h2.is_library()
                    || matches!(
                        h2.reason(),
                        Some(
                            h2::Reason::PROTOCOL_ERROR
                                | h2::Reason::FRAME_SIZE_ERROR
                                | h2::Reason::COMPRESSION_ERROR
                        )
                    )
            })
        })
        || causes(error).any(|cause| {
            cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
                )
            }) && causes(error).any(|outer| outer.is::<hyper::Error>())
        })
}

fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&cause| cause.source())
}

fn is_tls(error: &(dyn StdError + 'static)) -> bool {
    rustls_error(error).is_some()
}

/// The rustls error in `error`'s chain, if any.
fn rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    causes(error).find_map(|cause| {
        // rustls errors reach us wrapped in io::Errors, sometimes two deep,
        // and an io::Error's `source()` skips the error it wraps.
        let mut current: &(dyn StdError + 'static) = cause;
        loop {
            if let Some(found) = current.downcast_ref::<rustls::Error>() {
                return Some(found);
            }
            current = current
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)?;
        }
    })
}

/// What a TLS alert from the server about the client's certificate means:
/// under TLS 1.3 the server judges it after the client's handshake is done,
/// so it arrives as a failed read, not a failed connect.
fn client_certificate_refused(error: &(dyn StdError + 'static)) -> Option<&'static str> {
    use rustls::AlertDescription as Alert;
    match rustls_error(error)? {
        rustls::Error::AlertReceived(Alert::CertificateRequired) => {
            Some("TLS: the server asked for a client certificate and none was given (cert=)")
        }
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA
            | Alert::AccessDenied,
        ) => Some("TLS: the server refused the client certificate"),
        _ => None,
    }
}

fn has_hyper(error: &(dyn StdError + 'static), test: fn(&hyper::Error) -> bool) -> bool {
    causes(error).any(|cause| cause.downcast_ref::<hyper::Error>().is_some_and(test))
}
