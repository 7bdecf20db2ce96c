//! A handler where the network would be (`fastio.testing.MockTransport`):
//! a session given one sends each request, as it would go on the wire, to
//! the handler's queue instead of a connection, and reads the answer as a
//! server's. Everything above the wire (redirects, retries, Retry-After,
//! rate limits, cookies, timeouts, decoding, body limits) runs as usual.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use reqwest::ResponseBuilderExt;
use tokio::sync::{mpsc, oneshot, Mutex};
use url::Url;

use super::error::{cause_chain, ErrorKind, FastioError};

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
    /// Sends `request` to the handler and waits for its answer, which
    /// becomes a response as if read from a connection.
    pub async fn exchange(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, FastioError> {
        let (method, url) = (request.method().clone(), request.url().clone());
        let failed =
            |kind, what: &str| FastioError::for_request(kind, method.as_str(), url.as_str(), what);
        let mut request = request;
        let headers = std::mem::take(request.headers_mut());
        let body = match request.body_mut().take().map(BodyExt::collect) {
            None => Bytes::new(),
            Some(collecting) => match collecting.await {
                Ok(collected) => collected.to_bytes(),
                Err(err) => {
                    let why = cause_chain(&err);
                    return Err(failed(
                        ErrorKind::Request,
                        &format!("the request body failed: {why}"),
                    ));
                }
            },
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
        let mut response = http::Response::builder()
            .status(answer.status)
            .url(url.clone())
            .body(answer.body)
            .map_err(|err| failed(ErrorKind::Protocol, &err.to_string()))?;
        *response.headers_mut() = answer.headers;
        Ok(reqwest::Response::from(response))
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

    fn request(body: &'static str) -> reqwest::Request {
        let mut request =
            reqwest::Request::new(Method::POST, Url::parse("http://api.test/x").unwrap());
        *request.body_mut() = Some(reqwest::Body::from(body));
        request
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
        let response = handler.exchange(request("hi")).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.url().as_str(), "http://api.test/x");
        assert_eq!(response.bytes().await.unwrap(), "/x");
    }

    #[tokio::test]
    async fn no_answer_and_a_closed_handler_are_errors() {
        let handler = Arc::new(Handler::default());
        let answering = Arc::clone(&handler);
        tokio::spawn(async move {
            drop(answering.next_batch().await);
        });
        let error = handler.exchange(request("")).await.unwrap_err();
        assert!(
            error.message.contains("gave no answer"),
            "{}",
            error.message
        );
        handler.close().await;
        let error = handler.exchange(request("")).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::ClientClosed);
    }
}
