//! The Python bindings: the classes Python sees (`Response`, `Headers`,
//! `_ClientSession`, `_FetchStream`), argument conversion, and the errors
//! as exceptions. Everything here runs on the event loop's thread.

pub mod args;
pub mod bulk;
pub mod charset;
pub mod client;
pub mod errors;
pub mod headers;
pub mod mock;
pub mod progress;
pub mod reading;
pub mod request;
pub mod response;
pub mod results;
pub mod runtime;
pub mod timeout;
pub mod timings;
pub mod upload;
