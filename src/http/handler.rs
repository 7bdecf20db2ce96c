//! A handler where the network would be (`fastio.testing.MockTransport`):
//! a session given one sends each request, as it would go on the wire, to
//! the handler's queue instead of a connection, and reads the answer as a
//! server's. Everything above the wire (redirects, retries, Retry-After,
//! rate limits, cookies, timeouts, decoding, body limits) runs as usual.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::sync::{mpsc, oneshot, Mutex};
use url::Url;

use super::error::{cause_chain, ErrorKind, FastioError};
use super::wire::{with_defaults, WireBody, WireResponse};

/// Exchanges handed over per [`Handler::next_batch`]: the loop thread turns
/// each into a handler call, so a burst is taken in slices.
pub const BATCH: usize = 256;

/// One request waiting for the handler's answer.
pub struct Exchange {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    reply: oneshot::Sender<Result<Answer, FastioError>>,
}

impl Exchange {
    /// Gives the request its answer, or its failure; an answer nobody waits
    /// for any more (the request was cancelled or timed out) is dropped.
    pub fn reply(self, answer: Result<Answer, FastioError>) {
        let _ = self.reply.send(answer);
    }
}

/// What the handler answered, as a server would have sent it.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The queue between a session's requests and the code that answers them.
pub struct Handler {
    sender: mpsc::UnboundedSender<Exchange>,
    receiver: Mutex<mpsc::UnboundedReceiver<Exchange>>,
}

impl Default for Handler {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: Mutex::new(receiver),
        }
    }
}

impl Handler {
    /// Sends the request, as the wire would carry it, to the handler and
    /// waits for its answer, which becomes a response as if read from a
    /// connection.
    pub async fn exchange(
        &self,
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Option<WireBody>,
        user_agent: &HeaderValue,
    ) -> Result<WireResponse, FastioError> {
        let failed =
            |kind, what: &str| FastioError::for_request(kind, method.as_str(), url.as_str(), what);
        with_defaults(&mut headers, user_agent);
        let body = match body {
            None => Bytes::new(),
            Some(body) => body.collect().await.map_err(|err| {
                let why = cause_chain(&*err);
                failed(
                    ErrorKind::Request,
                    &format!("the request body failed: {why}"),
                )
            })?,
        };
        let (reply, answered) = oneshot::channel();
        let exchange = Exchange {
            method: method.clone(),
            url: url.clone(),
            headers,
            body,
            reply,
        };
        if self.sender.send(exchange).is_err() {
            return Err(failed(ErrorKind::ClientClosed, "the client is closed"));
        }
        let answer = answered.await.map_err(|_| {
            failed(
                ErrorKind::Request,
                "the mock transport's handler gave no answer",
            )
        })??;
        Ok(WireResponse::given(
            answer.status,
            answer.headers,
            answer.body,
        ))
    }

    /// Waits for the next requests, up to [`BATCH`] of them; `None` once
    /// the handler is closed.
    pub async fn next_batch(&self) -> Option<Vec<Exchange>> {
        let mut receiver = self.receiver.lock().await;
        let first = receiver.recv().await?;
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(exchange) => batch.push(exchange),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    /// Ends the queue: waiting requests and later ones fail as closed.
    pub async fn close(&self) {
        let mut receiver = self.receiver.lock().await;
        receiver.close();
        while let Ok(exchange) = receiver.try_recv() {
            let failure = FastioError::for_request(
                ErrorKind::ClientClosed,
                exchange.method.as_str(),
                exchange.url.as_str(),
                "the client is closed",
            );
            exchange.reply(Err(failure));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    async fn exchange(handler: &Handler, body: &'static str) -> Result<WireResponse, FastioError> {
        let url = Url::parse("http://api.test/x").unwrap();
        let body = Some(WireBody::whole(Bytes::from_static(body.as_bytes())));
        let agent = HeaderValue::from_static("test");
        handler
            .exchange(Method::POST, url, HeaderMap::new(), body, &agent)
            .await
    }

    #[tokio::test]
    async fn an_answer_becomes_the_response() {
        let handler = Arc::new(Handler::default());
        let answering = Arc::clone(&handler);
        tokio::spawn(async move {
            let batch = answering.next_batch().await.unwrap();
            for exchange in batch {
                assert_eq!(exchange.body, "hi");
                let body = Bytes::from(exchange.url.path().to_owned());
                exchange.reply(Ok(Answer {
                    status: StatusCode::CREATED,
                    headers: HeaderMap::new(),
                    body,
                }));
            }
        });
        let mut response = exchange(&handler, "hi").await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.chunk().await.unwrap().unwrap(), "/x");
    }

    #[tokio::test]
    async fn no_answer_and_a_closed_handler_are_errors() {
        let handler = Arc::new(Handler::default());
        let answering = Arc::clone(&handler);
        tokio::spawn(async move {
            drop(answering.next_batch().await);
        });
        let Err(error) = exchange(&handler, "").await else {
            panic!("answered");
        };
        assert!(
            error.message.contains("gave no answer"),
            "{}",
            error.message
        );
        handler.close().await;
        let Err(error) = exchange(&handler, "").await else {
            panic!("answered");
        };
        assert_eq!(error.kind, ErrorKind::ClientClosed);
    }
}
