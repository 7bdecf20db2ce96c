//! `fastio.testing`: a real HTTP server on 127.0.0.1 for tests, demos and
//! benchmarks. A hyper server serves the well-behaved routes; a raw TCP
//! listener beside it serves the faults hyper will not produce; a DNS
//! server answers for `.test` names.

mod dns;
mod faults;
mod routes;

pub use dns::{start_dns_server, DnsServer};

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use std::future::Future;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the server counts, shared with its tasks.
#[derive(Default)]
pub struct Counters {
    /// Requests by path (query string excluded), both listeners.
    requests: Mutex<HashMap<String, u64>>,
    /// When each request to a path arrived, in seconds since the Unix epoch.
    arrivals: Mutex<HashMap<String, Vec<f64>>>,
    /// Connections open right now on the hyper listener.
    open_connections: AtomicUsize,
    /// Connections accepted so far on the hyper listener.
    accepted_connections: AtomicUsize,
    /// Requests being served now by `/limited/{k}` and `/queued/{k}`, by host and k.
    in_flight: Mutex<HashMap<String, usize>>,
}

impl Counters {
    /// One more request of `key` being served; how many are, this one
    /// included. [`Counters::left`] ends it.
    pub fn entered(&self, key: &str) -> usize {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = in_flight.entry(key.to_owned()).or_default();
        *count += 1;
        *count
    }

    pub fn left(&self, key: &str) {
        if let Some(count) = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(key)
        {
            *count = count.saturating_sub(1);
        }
    }

    /// Counts a request to `path`; returns how many there were, this one included.
    pub fn count(&self, path: &str) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(path.to_owned())
            .or_default()
            .push(now);
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let count = requests.entry(path.to_owned()).or_default();
        *count += 1;
        *count
    }

    fn snapshot(&self) -> HashMap<String, u64> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Decrements the open-connection count when a connection task ends.
struct OpenConnection(Arc<Counters>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running test server; see :mod:`fastio.testing`.
#[pyclass(frozen, module = "fastio._fastio")]
pub struct Server {
    address: SocketAddr,
    fault_address: SocketAddr,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
}

#[pymethods]
impl Server {
    /// Base URL of the well-behaved routes, such as "http://127.0.0.1:41234".
    #[getter]
    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Base URL of the fault routes (raw TCP, broken HTTP on purpose).
    #[getter]
    fn fault_url(&self) -> String {
        format!("http://{}", self.fault_address)
    }

    /// The port of ``url``.
    #[getter]
    fn port(&self) -> u16 {
        self.address.port()
    }

    /// How many requests reached ``path`` (query excluded), on either listener.
    fn request_count(&self, path: &str) -> u64 {
        self.counters.snapshot().get(path).copied().unwrap_or(0)
    }

    /// Requests per path so far.
    fn request_counts(&self) -> HashMap<String, u64> {
        self.counters.snapshot()
    }

    /// When each request to ``path`` arrived (``time.time()`` seconds), in order.
    fn request_times(&self, path: &str) -> Vec<f64> {
        self.counters
            .arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// Connections open right now on the well-behaved listener.
    #[getter]
    fn open_connections(&self) -> usize {
        self.counters.open_connections.load(Ordering::SeqCst)
    }

    /// Connections accepted so far on the well-behaved listener.
    #[getter]
    fn accepted_connections(&self) -> usize {
        self.counters.accepted_connections.load(Ordering::SeqCst)
    }

    /// Forgets the request counts.
    fn reset_counts(&self) {
        self.counters
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.counters
            .arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Stops accepting and drops every open connection.
    fn close(&self) {
        let _ = self.stop.send(true);
    }

    fn __repr__(&self) -> String {
        format!("<Server {} (faults {})>", self.url(), self.fault_url())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn bind(host: &str, port: u16) -> PyResult<StdListener> {
    let listener = StdListener::bind((host, port))
        .map_err(|err| PyOSError::new_err(format!("cannot listen on {host}:{port}: {err}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|err| PyOSError::new_err(format!("cannot listen on {host}:{port}: {err}")))?;
    Ok(listener)
}

/// Starts a test server on `host` (port 0: any free port; the fault
/// listener always takes a free port).
#[pyfunction]
#[pyo3(name = "_start_test_server", signature = (host = "127.0.0.1", port = 0))]
pub fn start_test_server(host: &str, port: u16) -> PyResult<Server> {
    let listener = bind(host, port)?;
    let fault_listener = bind(host, 0)?;
    let address = listener
        .local_addr()
        .map_err(|err| PyOSError::new_err(err.to_string()))?;
    let fault_address = fault_listener
        .local_addr()
        .map_err(|err| PyOSError::new_err(err.to_string()))?;
    let counters = Arc::new(Counters::default());
    let (stop, stopped) = watch::channel(false);
    crate::bridge::spawn(serve(listener, Arc::clone(&counters), stopped.clone()))?;
    crate::bridge::spawn(faults::serve(
        fault_listener,
        Arc::clone(&counters),
        stopped,
    ))?;
    Ok(Server {
        address,
        fault_address,
        counters,
        stop,
    })
}

/// Accepts until stopped, serving each connection with `handle` in its own
/// task; open connections are dropped when the server stops.
pub(crate) async fn accept_until_stopped<Handle, Served>(
    listener: StdListener,
    mut stopped: watch::Receiver<bool>,
    handle: Handle,
) where
    Handle: Fn(TcpStream) -> Served,
    Served: Future<Output = ()> + Send + 'static,
{
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let served = handle(stream);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = served => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        });
    }
}

/// Serves the well-behaved routes with hyper (HTTP/1.1, or HTTP/2 with
/// prior knowledge), counting connections.
async fn serve(listener: StdListener, counters: Arc<Counters>, stopped: watch::Receiver<bool>) {
    accept_until_stopped(listener, stopped, move |stream| {
        let _ = stream.set_nodelay(true);
        counters.accepted_connections.fetch_add(1, Ordering::SeqCst);
        counters.open_connections.fetch_add(1, Ordering::SeqCst);
        let open = OpenConnection(Arc::clone(&counters));
        let counters = Arc::clone(&counters);
        async move {
            let _open = open;
            let service = hyper::service::service_fn(move |request| {
                routes::handle(request, Arc::clone(&counters))
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await;
}
