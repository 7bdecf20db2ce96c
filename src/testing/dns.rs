//! A DNS server on 127.0.0.1 for tests and benchmarks, so no test asks a
//! real one: names under `.test` are 127.0.0.1 (`servfail.test` fails),
//! every other name does not exist. Answers wait a set latency, carry a set
//! TTL, and when each query arrived is kept by name.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SOA};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// A running DNS server; see :mod:`fastio.testing`.
#[pyclass(frozen, module = "fastio._fastio")]
pub struct DnsServer {
    address: SocketAddr,
    queries: Arc<Mutex<HashMap<String, Vec<f64>>>>,
    stop: watch::Sender<bool>,
}

#[pymethods]
impl DnsServer {
    /// ``"127.0.0.1:PORT"``, as ``dns_servers=`` takes it.
    #[getter]
    fn address(&self) -> String {
        self.address.to_string()
    }

    /// Queries received so far, of every name.
    #[getter]
    fn queries(&self) -> usize {
        self.arrivals().values().map(Vec::len).sum()
    }

    /// Queries received so far for ``name`` (lower case, no final dot).
    fn queries_for(&self, name: &str) -> usize {
        self.query_times(name).len()
    }

    /// When each query for ``name`` arrived (``time.time()`` seconds), in order.
    fn query_times(&self, name: &str) -> Vec<f64> {
        self.arrivals()
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    fn close(&self) {
        let _ = self.stop.send(true);
    }

    fn __repr__(&self) -> String {
        format!("<DnsServer {}>", self.address)
    }
}

impl DnsServer {
    fn arrivals(&self) -> HashMap<String, Vec<f64>> {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How the server answers.
#[derive(Clone, Copy)]
struct Answering {
    latency: Duration,
    ttl: u32,
}

/// Starts a DNS server on 127.0.0.1 (UDP; port 0: any free port) whose
/// answers wait `latency` seconds and carry `ttl`.
#[pyfunction]
#[pyo3(name = "_start_dns_server", signature = (latency = 0.0, ttl = 300, port = 0))]
pub fn start_dns_server(latency: f64, ttl: u32, port: u16) -> PyResult<DnsServer> {
    let latency = Duration::try_from_secs_f64(latency)
        .map_err(|_| PyValueError::new_err("latency must be a number of seconds, at least 0"))?;
    let socket = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, port))
        .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
        .map_err(|err| PyOSError::new_err(format!("cannot bind the DNS server: {err}")))?;
    let address = socket
        .local_addr()
        .map_err(|err| PyOSError::new_err(err.to_string()))?;
    let queries = Arc::new(Mutex::new(HashMap::new()));
    let (stop, stopped) = watch::channel(false);
    let answering = Answering { latency, ttl };
    crate::bridge::spawn(serve(socket, Arc::clone(&queries), answering, stopped))?;
    Ok(DnsServer {
        address,
        queries,
        stop,
    })
}

async fn serve(
    socket: StdUdpSocket,
    queries: Arc<Mutex<HashMap<String, Vec<f64>>>>,
    answering: Answering,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(socket) = UdpSocket::from_std(socket).map(Arc::new) else {
        return;
    };
    let mut buffer = vec![0_u8; 4096];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buffer) => received,
            _ = stopped.changed() => return,
        };
        let Ok((length, peer)) = received else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        if let Some(asked) = query.queries.first() {
            let name = asked.name().to_ascii();
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64());
            queries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(name)
                .or_default()
                .push(now);
        }
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            tokio::time::sleep(answering.latency).await;
            if let Ok(bytes) = answer(&query, answering.ttl).to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        });
    }
}

/// The answer to `query`: 127.0.0.1 for an A query of a `.test` name, no
/// records for its other types, NXDOMAIN (with an SOA giving the negative
/// TTL) for any other name, SERVFAIL for `servfail.test`.
fn answer(query: &Message, ttl: u32) -> Message {
    let mut response = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    let Some(asked) = query.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    response.add_query(asked.clone());
    let name = asked.name().to_ascii().to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    if name == "servfail.test" {
        response.metadata.response_code = ResponseCode::ServFail;
    } else if name == "test" || name.ends_with(".test") {
        if asked.query_type() == RecordType::A {
            response.add_answer(Record::from_rdata(
                asked.name().clone(),
                ttl,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
    } else {
        response.metadata.response_code = ResponseCode::NXDomain;
        if let Ok(zone) = Name::from_ascii(".") {
            let soa = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86400, ttl);
            response.add_authority(Record::from_rdata(zone, ttl, RData::SOA(soa)));
        }
    }
    response
}
