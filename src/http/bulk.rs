//! The bulk engine behind `fetch_all` (results in input order) and
//! `fetch_iter` (results as they complete): one loop runs a bounded number
//! of requests, pulls its input lazily, and hands each result to a [`Sink`].

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;

use futures::future::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use http::Method;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;
use url::Url;

use super::budget::BodyBudget;
use super::error::FastioError;
use super::progress::Counts;
use super::response::{Indexed, ResponseData};
use super::session::{Defaults, Session};
use super::spec::RequestSpec;
use super::transport;
use super::wire::Wire;

/// The most input items asked for at once: each pull runs the caller's
/// iterator on the event loop's thread, so this bounds how long it holds it.
pub const FEED_CHUNK: usize = 1024;

/// Completed results handed over at once while requests still run: a few
/// wake-ups of the loop per thousand results, or sooner when their bodies
/// are large, so they do not wait in the workers' memory.
const DELIVER_EVERY: usize = 256;
const DELIVER_BYTES: usize = 16 * 1024 * 1024;

/// What every request of one bulk fetch shares.
#[derive(Clone)]
pub struct Template {
    pub method: Method,
    /// The session's defaults when the call was made, with the call's own
    /// (headers, timeouts, retries, body limit) over them.
    pub defaults: Arc<Defaults>,
    /// False: bodies are counted, not kept.
    pub keep_body: bool,
    pub session: Arc<Session>,
}

impl Template {
    /// The request for `url`, or why `url` is invalid.
    pub fn request(&self, url: &str) -> Result<RequestSpec, FastioError> {
        self.on(self
            .defaults
            .request(&self.session, self.method.clone(), url, &[], None, None))
    }

    /// `built` (an item's request) as this call sends it.
    pub fn on(&self, built: Result<RequestSpec, FastioError>) -> Result<RequestSpec, FastioError> {
        built.map(|spec| RequestSpec {
            keep_body: self.keep_body,
            ..spec
        })
    }
}

/// One input item: its position and its request (or why it is invalid,
/// which is that item's result).
pub type Item = (usize, Result<RequestSpec, FastioError>);

/// What the input side sends: items, or the end of the input.
pub enum Chunk {
    Items(Vec<Item>),
    End,
}

/// Input items asked for before the work starts: enough to fill the first
/// requests.
pub fn first_pull(concurrency: usize) -> usize {
    FEED_CHUNK.min(concurrency.saturating_mul(2)).max(1)
}

/// Where [`run_requests`] puts each result as it completes.
pub trait Sink {
    /// Takes one result; false stops the run (the taker is gone, or wants
    /// no more).
    fn put(&mut self, result: Indexed) -> impl Future<Output = bool> + Send;

    /// The run is about to wait for the network or its input: hand over
    /// what was put since the last flush, if the sink holds any back.
    fn flush(&mut self) -> bool {
        true
    }
}

/// What [`run_requests`] runs.
pub struct Requests {
    /// The input, pulled on request.
    pub input: UnboundedReceiver<Chunk>,
    pub concurrency: usize,
    pub stop_on_failure: bool,
    pub counts: Option<Arc<Counts>>,
    /// The bytes the bodies being read may hold in total.
    pub body_budget: Arc<BodyBudget>,
}

/// Runs the requests from `input`, at most `concurrency` at a time, putting
/// each result into `sink` as it completes. Asks for more input through
/// `ask` (false: nobody will send any). Ends when the input and its
/// requests are done, when the sink says stop, or after the first failure
/// if `stop_on_failure`.
pub async fn run_requests(requests: Requests, ask: impl Fn(usize) -> bool, sink: &mut impl Sink) {
    let Requests {
        mut input,
        concurrency,
        stop_on_failure,
        counts,
        body_budget,
    } = requests;
    let mut waiting: VecDeque<Item> = VecDeque::new();
    let mut ahead = LookAhead::default();
    let mut running = FuturesUnordered::new();
    let mut input_ended = false;
    let mut asked = false;
    loop {
        while running.len() < concurrency {
            let Some((index, request)) = waiting.pop_front() else {
                break;
            };
            ahead.started_one();
            match request {
                Ok(mut spec) => {
                    spec.body_budget = Some(Arc::clone(&body_budget));
                    running.push(spawn_request(index, spec));
                }
                Err(invalid) => {
                    let result = (index, Err(invalid));
                    if let Some(counts) = &counts {
                        counts.record(&result);
                    }
                    if !sink.put(result).await || stop_on_failure {
                        return;
                    }
                }
            }
        }
        ahead.look(&waiting, concurrency);
        if !input_ended && !asked && waiting.len() < concurrency {
            // A chunk at a time whatever the concurrency: each pull runs
            // the caller's iterator on the loop thread.
            asked = ask(FEED_CHUNK);
            if !asked {
                input_ended = true;
            }
        }
        if input_ended && waiting.is_empty() && running.is_empty() {
            sink.flush();
            return;
        }
        let event = next_event(&mut input, &mut running, input_ended);
        let event = match event.now_or_never() {
            Some(event) => event,
            None => {
                // Nothing ready: first let the tasks waiting to run go (this
                // run's requests among them), so what they finish joins the
                // hand-over rather than each result going over alone.
                tokio::task::yield_now().await;
                match next_event(&mut input, &mut running, input_ended).now_or_never() {
                    Some(event) => event,
                    None => {
                        // Whatever completed meanwhile goes over in one
                        // hand-over before waiting.
                        if !sink.flush() {
                            return;
                        }
                        next_event(&mut input, &mut running, input_ended).await
                    }
                }
            }
        };
        match event {
            Event::Input(Some(Chunk::Items(items))) => {
                waiting.extend(items);
                asked = false;
            }
            Event::Input(Some(Chunk::End) | None) => input_ended = true,
            Event::Done((index, result)) => {
                let failed = result.is_err();
                let result = (index, result);
                if let Some(counts) = &counts {
                    counts.record(&result);
                }
                if !sink.put(result).await || (failed && stop_on_failure) {
                    sink.flush();
                    return;
                }
            }
        }
    }
}

/// Host names looked up ahead of their requests: those of the next
/// `concurrency` requests waiting for their turn, each name once a run, so
/// a crawl's DNS answers arrive while earlier requests are on the wire
/// (and a DNS server gets no more queries at once than requests run).
#[derive(Default)]
struct LookAhead {
    /// How many requests at the front of the waiting queue were looked at.
    seen: usize,
    /// The names asked this run.
    asked: HashSet<String>,
}

/// Names remembered a run, at most (then it starts over).
const NAMES_AHEAD: usize = 65_536;

impl LookAhead {
    fn started_one(&mut self) {
        self.seen = self.seen.saturating_sub(1);
    }

    fn look(&mut self, waiting: &VecDeque<Item>, window: usize) {
        while self.seen < window {
            let Some((_, request)) = waiting.get(self.seen) else {
                return;
            };
            if let Ok(spec) = request {
                // Until the first request has built the client there is
                // nothing to ask with: looked at again next time.
                let Some(wire) = spec.session.built_wire() else {
                    return;
                };
                self.ask(&wire, &spec.url);
            }
            self.seen += 1;
        }
    }

    fn ask(&mut self, wire: &Wire, url: &Url) {
        let Some(url::Host::Domain(name)) = url.host() else {
            return;
        };
        if self.asked.contains(name) {
            return;
        }
        if self.asked.len() >= NAMES_AHEAD {
            self.asked.clear();
        }
        self.asked.insert(name.to_owned());
        wire.resolve_ahead(url);
    }
}

/// Runs one request as a task of its own, so a run's requests spread over
/// every worker thread rather than all being polled inside the run's one
/// task (which bounds a process at about one core's worth of them). The
/// request is aborted if its result is no longer wanted.
fn spawn_request(index: usize, spec: RequestSpec) -> impl Future<Output = Indexed> + Send {
    transport::on_own_task(transport::execute(spec)).map(move |result| {
        let result = result.map(|data| ResponseData {
            index: Some(index),
            ..data
        });
        (index, result)
    })
}

/// What [`run_requests`] waits for: input, or a request finishing.
#[allow(
    clippy::large_enum_variant,
    reason = "one at a time on the run's stack; boxing would allocate per result"
)]
enum Event {
    Input(Option<Chunk>),
    Done(Indexed),
}

/// The next event; both branches are cancel-safe, so an unfinished wait
/// can be dropped and started again.
async fn next_event<Running>(
    input: &mut UnboundedReceiver<Chunk>,
    running: &mut Running,
    input_ended: bool,
) -> Event
where
    Running: futures::Stream<Item = Indexed> + Unpin + futures::stream::FusedStream,
{
    tokio::select! {
        chunk = input.recv(), if !input_ended => Event::Input(chunk),
        Some(done) = running.next(), if !running.is_terminated() => Event::Done(done),
    }
}

/// `fetch_all`'s sink: every result with its input position, or the first
/// failure. Results go to `deliver` in batches as they complete, whatever
/// their position (the receiver puts each in its place), so the loop makes
/// Responses while later requests still run, and no body waits in memory
/// for a slower one before it.
pub struct AllResults<Deliver> {
    /// Completed, not handed over yet.
    batch: Vec<Indexed>,
    /// Body bytes in `batch`.
    batch_bytes: usize,
    failure: Option<FastioError>,
    return_exceptions: bool,
    deliver: Deliver,
    /// KiB of body handed over and not yet taken by the receiver, who gives
    /// them back: bodies wait in the kernel, not in memory, when it is slow.
    budget: Option<Arc<Semaphore>>,
}

/// The most KiB of body [`AllResults`] hands over before the receiver takes
/// some: 64 MiB.
pub const BODY_BUDGET_KIB: u32 = 64 * 1024;

/// What a body counts against the budget.
pub fn body_kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

impl<Deliver: FnMut(Vec<Indexed>, u32) + Send> AllResults<Deliver> {
    pub fn new(return_exceptions: bool, deliver: Deliver) -> Self {
        Self {
            batch: Vec::new(),
            batch_bytes: 0,
            failure: None,
            return_exceptions,
            deliver,
            budget: None,
        }
    }

    /// Bounds the KiB of body handed over and not given back to `budget`'s
    /// permits (at most [`BODY_BUDGET_KIB`] are asked at once).
    pub fn with_budget(mut self, budget: Arc<Semaphore>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// After the run: the results not handed over yet, or the failure.
    pub fn finish(mut self) -> Result<Vec<Indexed>, FastioError> {
        match self.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(std::mem::take(&mut self.batch)),
        }
    }
}

impl<Deliver: FnMut(Vec<Indexed>, u32) + Send> Sink for AllResults<Deliver> {
    async fn put(&mut self, (index, result): Indexed) -> bool {
        let result = match result {
            Err(failure) if !self.return_exceptions => {
                self.failure = Some(failure.with_index(index));
                return false;
            }
            result => result,
        };
        self.batch_bytes += result.as_ref().map_or(0, |data| data.body.len());
        self.batch.push((index, result));
        if self.batch.len() < DELIVER_EVERY && self.batch_bytes < DELIVER_BYTES {
            return true;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let wanted = batch
            .iter()
            .map(|(_, done)| done.as_ref().map_or(0, |data| body_kib(data.body.len())))
            .fold(0, u32::saturating_add)
            .min(BODY_BUDGET_KIB);
        let taken = match &self.budget {
            Some(budget) if wanted > 0 => match budget.acquire_many(wanted).await {
                Ok(permits) => {
                    permits.forget();
                    wanted
                }
                Err(_closed) => 0,
            },
            _ => 0,
        };
        (self.deliver)(batch, taken);
        true
    }
}

/// `fetch_iter`'s sink: each result `push`ed where the taker finds it as it
/// completes, the taker told (`notify`) once per batch: when the run is
/// about to wait, or when half the room is filled (so the taker works while
/// the run goes on). At most `room`'s permits of results are not yet
/// taken; the taker gives permits back, so a slow consumer holds new
/// requests back instead of piling up responses.
pub struct AsCompleted<Push, Notify> {
    room: Arc<Semaphore>,
    push: Push,
    notify: Notify,
    unannounced: usize,
    announce_every: usize,
}

impl<Push, Notify> AsCompleted<Push, Notify>
where
    Push: FnMut(Indexed) + Send,
    Notify: FnMut() -> bool + Send,
{
    pub fn new(room: Arc<Semaphore>, push: Push, notify: Notify) -> Self {
        let announce_every = (room.available_permits() / 2).max(1);
        Self {
            room,
            push,
            notify,
            unannounced: 0,
            announce_every,
        }
    }
}

impl<Push, Notify> Sink for AsCompleted<Push, Notify>
where
    Push: FnMut(Indexed) + Send,
    Notify: FnMut() -> bool + Send,
{
    async fn put(&mut self, result: Indexed) -> bool {
        let room = Arc::clone(&self.room);
        let permit = match room.try_acquire() {
            Ok(permit) => Ok(permit),
            Err(_) => {
                // Full: the taker must hear of what waits before we wait.
                if !self.flush() {
                    return false;
                }
                room.acquire().await
            }
        };
        match permit {
            Ok(permit) => permit.forget(),
            Err(_closed) => return false,
        }
        (self.push)(result);
        self.unannounced += 1;
        if self.unannounced >= self.announce_every {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        if std::mem::take(&mut self.unannounced) == 0 {
            return true;
        }
        (self.notify)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::ErrorKind;
    use crate::http::session::Settings;
    use tokio::sync::mpsc::unbounded_channel;

    fn failure(index: usize) -> Indexed {
        (
            index,
            Err(FastioError::new(
                ErrorKind::Request,
                None,
                format!("#{index}"),
            )),
        )
    }

    fn indexes(results: &[Indexed]) -> Vec<usize> {
        results.iter().map(|(index, _)| *index).collect()
    }

    #[tokio::test]
    async fn all_results_go_over_in_batches_as_they_complete() {
        let mut delivered = Vec::new();
        let mut sink = AllResults::new(true, |batch, _| delivered.push(indexes(&batch)));
        // 300 results in reverse order: the first 256 to complete go over
        // at once, whatever their positions; the rest at the end.
        for index in (0..300).rev() {
            assert!(sink.put(failure(index)).await);
        }
        let rest = sink.finish().ok().map(|rest| indexes(&rest));
        assert_eq!(delivered, vec![(44..300).rev().collect::<Vec<_>>()]);
        assert_eq!(rest, Some((0..44).rev().collect()));
    }

    fn body(index: usize, size: usize) -> Indexed {
        (index, Ok(ResponseData::for_test(index, size)))
    }

    #[tokio::test]
    async fn all_results_hand_large_bodies_over_by_their_size() {
        let mut delivered = Vec::new();
        let mut sink = AllResults::new(true, |batch, _| delivered.push(indexes(&batch)));
        for index in 0..40 {
            assert!(sink.put(body(index, 1024 * 1024)).await);
        }
        // 16 MiB of body at a time, not 256 results.
        assert_eq!(delivered.len(), 2);
        assert_eq!(delivered[0], (0..16).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn all_results_stop_at_the_first_failure_with_its_index() {
        let mut sink = AllResults::new(false, |_, _| {});
        assert!(!sink.put(failure(7)).await);
        let error = sink.finish().err();
        assert_eq!(error.and_then(|error| error.index), Some(7));
    }

    #[tokio::test]
    async fn as_completed_waits_for_room_and_announces_each_half_room() {
        let room = Arc::new(Semaphore::new(2));
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut notified = 0;
        let mut sink = AsCompleted::new(
            Arc::clone(&room),
            |result: Indexed| taken.lock().unwrap().push(result.0),
            || {
                notified += 1;
                true
            },
        );
        assert!(sink.put(failure(0)).await);
        assert!(sink.put(failure(1)).await);
        // Full: the third waits until the taker gives a permit back.
        let third =
            tokio::time::timeout(std::time::Duration::from_millis(50), sink.put(failure(2))).await;
        assert!(third.is_err());
        room.add_permits(1);
        assert!(sink.put(failure(2)).await);
        assert!(sink.flush());
        drop(sink);
        assert_eq!(*taken.lock().unwrap(), vec![0, 1, 2]);
        // Half the room of 2 is one result: each is announced as it comes.
        assert_eq!(notified, 3);
    }

    #[tokio::test]
    async fn run_requests_pulls_its_input_on_request_and_puts_every_result() {
        let session = Arc::new(Session::new(Settings::default()));
        let template = Template {
            method: Method::GET,
            defaults: session.defaults(),
            keep_body: true,
            session: Arc::clone(&session),
        };
        let (sender, input) = unbounded_channel();
        // Invalid URLs fail without any network: three chunks of two.
        let asks = std::sync::atomic::AtomicUsize::new(0);
        let ask = |want: usize| {
            assert_eq!(want, FEED_CHUNK);
            let chunk = asks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let items = (chunk * 2..chunk * 2 + 2)
                .map(|index| (index, template.request("not a url")))
                .collect();
            let _ = sender.send(if chunk < 3 {
                Chunk::Items(items)
            } else {
                Chunk::End
            });
            true
        };
        let mut results = Vec::new();
        let mut sink = AllResults::new(true, |batch, _| results.extend(indexes(&batch)));
        let requests = Requests {
            input,
            concurrency: 4,
            stop_on_failure: false,
            counts: None,
            body_budget: BodyBudget::new(1 << 20),
        };
        run_requests(requests, ask, &mut sink).await;
        let rest = sink.finish().ok().unwrap_or_default();
        results.extend(indexes(&rest));
        assert_eq!(results, (0..6).collect::<Vec<_>>());
        assert_eq!(asks.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
