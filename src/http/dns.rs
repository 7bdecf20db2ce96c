//! Names to addresses with fastio's own resolver (hickory, asynchronous):
//! each name is asked once while its TTL lasts (a bounded cache), a name
//! that does not exist is remembered briefly, and lookups of one name made
//! while it is being asked share that one query.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::FutureExt;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use tokio::sync::oneshot;

/// Queries in flight on one connection to a DNS server.
const ACTIVE_QUERIES: usize = 256;

/// Names remembered at most; beyond it the least recently used go.
const CACHE_SIZE: u64 = 8_192;

/// How long a name that does not exist is remembered: the server's
/// negative TTL, within these bounds.
const NEGATIVE_TTL: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(60));

/// The longest wait for one answer from a server given in `dns_servers`;
/// each is asked twice.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a lookup takes, whatever the configuration's timeouts and
/// attempts add up to: then it is a [`DnsFailure::Failed`], not a connect
/// that timed out for no reason given.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a name has no address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsFailure {
    /// The name does not exist (NXDOMAIN), or has no address.
    NotFound(String),
    /// The DNS servers did not answer in time, or failed.
    Failed { name: String, why: String },
}

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(name) => write!(f, "name not found: {name}"),
            Self::Failed { name, why } => write!(f, "the DNS lookup of {name} failed: {why}"),
        }
    }
}

impl std::error::Error for DnsFailure {}

type Addresses = Result<Arc<[IpAddr]>, DnsFailure>;

/// A session's resolver: the system's configuration (shared by every
/// session that uses it, and so is its cache), or its own servers.
pub struct Dns {
    resolver: TokioResolver,
    /// The lookups being asked now, by lower-case name.
    asking: Mutex<HashMap<String, Shared<BoxFuture<'static, Addresses>>>>,
}

impl Dns {
    /// The system's configuration (resolv.conf and the hosts file), one
    /// for the process; an error when it cannot be read.
    pub fn system() -> Result<Arc<Dns>, String> {
        static SYSTEM: OnceLock<Result<Arc<Dns>, String>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| {
                let mut builder = TokioResolver::builder_tokio().map_err(|err| err.to_string())?;
                bound(builder.options_mut());
                Ok(Dns::new(builder.build().map_err(|err| err.to_string())?))
            })
            .clone()
    }

    /// Queries go to `servers` only (UDP, then TCP for long answers); the
    /// hosts file is still read first.
    pub fn with_servers(servers: &[SocketAddr]) -> Result<Arc<Dns>, String> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut config = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut config.connections {
                    connection.port = server.port();
                }
                config
            })
            .collect();
        let config = ResolverConfig::from_name_servers(name_servers);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        let options = builder.options_mut();
        bound(options);
        options.timeout = QUERY_TIMEOUT;
        Ok(Dns::new(builder.build().map_err(|err| err.to_string())?))
    }

    fn new(resolver: TokioResolver) -> Arc<Dns> {
        Arc::new(Dns {
            resolver,
            asking: Mutex::new(HashMap::new()),
        })
    }

    /// The addresses of `name`: from the cache, from the query already
    /// being asked, or from a new one. The query runs as a task of its own,
    /// so a caller that gives up does not stop it for the others.
    pub fn lookup(self: &Arc<Self>, name: &str) -> impl std::future::Future<Output = Addresses> {
        let key = name.to_ascii_lowercase();
        let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = asking.get(&key) {
            return shared.clone();
        }
        let (answer, answered) = oneshot::channel();
        let shared = answered
            .map(|answer| {
                answer.unwrap_or_else(|_| {
                    Err(DnsFailure::Failed {
                        name: String::new(),
                        why: "the lookup was stopped (the runtime is stopping)".to_owned(),
                    })
                })
            })
            .boxed()
            .shared();
        asking.insert(key.clone(), shared.clone());
        drop(asking);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let found = this.ask(&key).await;
            // Gone from `asking` before it is told: a later lookup finds
            // the answer in the resolver's cache, not a finished query.
            this.asking
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
            let _ = answer.send(found);
        });
        shared
    }

    async fn ask(&self, name: &str) -> Addresses {
        let Ok(answered) =
            tokio::time::timeout(LOOKUP_TIMEOUT, self.resolver.lookup_ip(name)).await
        else {
            return Err(DnsFailure::Failed {
                name: name.to_owned(),
                why: format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs()),
            });
        };
        match answered {
            Ok(found) => {
                let addresses: Arc<[IpAddr]> = found.iter().collect();
                if addresses.is_empty() {
                    return Err(DnsFailure::NotFound(name.to_owned()));
                }
                Ok(addresses)
            }
            Err(err) if err.is_nx_domain() || err.is_no_records_found() => {
                Err(DnsFailure::NotFound(name.to_owned()))
            }
            Err(err) => Err(DnsFailure::Failed {
                name: name.to_owned(),
                why: err.to_string(),
            }),
        }
    }
}

/// fastio's bounds on the cache, whatever the configuration says; IPv6
/// addresses asked only for names with no IPv4 one (one query a name).
fn bound(options: &mut ResolverOpts) {
    options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    // A crawl asks hundreds of names at once: queries in flight on one
    // connection to a server before another is opened.
    options.max_active_requests = ACTIVE_QUERIES;
    options.cache_size = CACHE_SIZE;
    options.negative_min_ttl = Some(NEGATIVE_TTL.0);
    options.negative_max_ttl = Some(NEGATIVE_TTL.1);
}
