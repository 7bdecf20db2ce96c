//! The HTTP engine, in plain Rust: no Python here. A request is a
//! [`spec::RequestSpec`]; [`transport`] sends it on a [`session::Session`]
//! (pool, limits, pacing, cookie jar) with redirects and retries, and
//! produces [`response::ResponseData`] or a [`error::FastioError`];
//! [`bulk`] runs many.

pub mod adaptive;
pub mod body;
pub mod budget;
pub mod bulk;
pub mod classify;
pub mod connect;
pub mod decode;
pub mod defaults;
pub mod dns;
pub mod error;
pub mod handler;
pub mod opening;
pub mod pacing;
pub mod progress;
pub mod redirect;
pub mod response;
pub mod retry;
pub mod session;
pub mod spec;
pub mod stream;
pub mod timing;
pub mod tls;
pub mod transport;
pub mod upload;
pub mod wire;
pub mod write;
