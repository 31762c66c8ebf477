//! Capturing bodies without holding anything back.
//!
//! Owns the two places where bytes are kept for comparison: the request body (buffered up
//! to the cap before it is sent anywhere, so every target gets the same bytes; past the cap
//! the rest is chained on as a stream) and the primary's response body, which is *teed*:
//! every frame goes to the client as soon as it arrives and a copy of the first `cap` bytes
//! is kept, reserved in the shadow memory budget ([`crate::upstream::budget`]; a refused reservation
//! abandons the copy, never the client's stream). The client stream is never delayed to
//! fill the capture. When the body ends (or the client goes away and the remainder has been
//! drained, which stops as soon as nothing more would be kept) the captured outcome is sent
//! on a oneshot channel. It also defines [`ClientBody`], the body the client receives (teed,
//! plain, or produced by cutover). This module never decides what is mirrored.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::oneshot;

use crate::exchange::{
    Body as CapturedBody, Failure, FailureKind, Headers, OutcomeResult, RecordedResponse,
};
use crate::upstream::budget::{CappedBuf, MemoryBudget, Pushed, over_budget};
use crate::upstream::forward::classify_hyper;
use crate::upstream::pool::UpstreamBody;

/// A request body read up to the cap.
pub enum Buffered {
    /// The whole body, within the cap.
    Complete(Bytes),
    /// More than the cap: what was read so far, and the rest still streaming.
    Overflow { prefix: Bytes, rest: Incoming },
}

/// Read a request body until it ends or passes `cap` bytes.
pub async fn buffer_request(mut body: Incoming, cap: usize) -> Result<Buffered, hyper::Error> {
    // A declared length sizes the buffer once (no doubling past what will be kept).
    let declared = body.size_hint().exact().unwrap_or(0);
    let mut buf = BytesMut::with_capacity(usize::try_from(declared).unwrap_or(cap).min(cap));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > cap {
                return Ok(Buffered::Overflow {
                    prefix: buf.freeze(),
                    rest: body,
                });
            }
        }
    }
    Ok(Buffered::Complete(buf.freeze()))
}

/// What the tee knows about the response it copies.
pub struct Capture {
    /// The copy, bounded by the cap and reserved in the shadow memory budget.
    buf: CappedBuf,
    /// The declared body length, if any (sizes the first allocation).
    hint: Option<u64>,
    /// The budget refused: the copy is abandoned and the exchange will be dropped.
    over_budget: bool,
    started: Instant,
    ttfb_us: u64,
    status: u16,
    headers: Headers,
    done: oneshot::Sender<OutcomeResult>,
    /// After a client disconnect, how long the rest of the body may take to drain.
    drain_limit: Duration,
}

impl Capture {
    /// A capture for a response whose head arrived `ttfb_us` after `started`; the outcome
    /// goes to `done` when the body has ended. Copied bytes are reserved in `budget`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        done: oneshot::Sender<OutcomeResult>,
        cap: usize,
        budget: &Arc<MemoryBudget>,
        started: Instant,
        ttfb_us: u64,
        status: u16,
        headers: Headers,
        drain_limit: Duration,
    ) -> Capture {
        Capture {
            buf: CappedBuf::new(cap, Some(Arc::clone(budget))),
            hint: None,
            over_budget: false,
            started,
            ttfb_us,
            status,
            headers,
            done,
            drain_limit,
        }
    }

    /// Copy what fits; never blocks and never fails the client's stream.
    fn push(&mut self, data: &Bytes) {
        if self.over_budget || self.buf.is_full() {
            return;
        }
        if self.buf.push(data, self.hint) == Pushed::OverBudget {
            self.over_budget = true;
        }
    }

    /// Nothing more will be copied (cap reached or budget refused).
    fn done_copying(&self) -> bool {
        self.over_budget || self.buf.is_full()
    }

    fn finish(self, error: Option<(FailureKind, String)>) {
        let elapsed_us = micros(self.started.elapsed());
        if self.over_budget {
            let _ = self.done.send(over_budget(elapsed_us));
            return;
        }
        let truncated = self.buf.is_full();
        let result = match error {
            None => OutcomeResult::Response(RecordedResponse {
                status: self.status,
                headers: self.headers,
                body: CapturedBody(self.buf.freeze()),
                truncated,
                ttfb_us: self.ttfb_us,
                total_us: elapsed_us,
            }),
            Some((kind, message)) => OutcomeResult::Failure(Failure {
                kind,
                elapsed_us,
                message,
            }),
        };
        let _ = self.done.send(result);
    }
}

/// The primary's response body on its way to the client, copied into a [`Capture`].
pub struct TeeBody {
    inner: Option<UpstreamBody>,
    capture: Option<Capture>,
}

impl TeeBody {
    pub fn new(inner: UpstreamBody, mut capture: Capture) -> TeeBody {
        capture.hint = inner.size_hint().exact();
        TeeBody {
            inner: Some(inner),
            capture: Some(capture),
        }
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(c)) = (frame.data_ref(), this.capture.as_mut()) {
                    c.push(data);
                }
                if inner.is_end_stream() {
                    if let Some(c) = this.capture.take() {
                        c.finish(None);
                    }
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(c) = this.capture.take() {
                    c.finish(Some((classify_hyper(e), e.to_string())));
                }
            }
            Poll::Ready(None) => {
                if let Some(c) = this.capture.take() {
                    c.finish(None);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for TeeBody {
    /// The client went away (or the body was never polled because it was empty): finish
    /// the capture anyway, draining what is left of the primary's body in the background.
    fn drop(&mut self) {
        let Some(mut capture) = self.capture.take() else {
            return;
        };
        let inner = match self.inner.take() {
            Some(b) if !b.is_end_stream() => b,
            _ => return capture.finish(None),
        };
        if capture.done_copying() {
            // Nothing more would be kept: dropping the rest closes the connection, which
            // costs less than reading an arbitrarily long (or endless) body.
            capture.buf.set_full();
            return capture.finish(None);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            capture.buf.set_full();
            return capture.finish(None);
        };
        runtime.spawn(async move {
            let limit = capture.drain_limit;
            let mut inner = inner;
            let drained = tokio::time::timeout(limit, async {
                while let Some(frame) = inner.frame().await {
                    match frame {
                        Ok(frame) => {
                            if let Some(data) = frame.data_ref() {
                                capture.push(data);
                            }
                            if capture.done_copying() && !inner.is_end_stream() {
                                capture.buf.set_full();
                                return None;
                            }
                        }
                        Err(e) => return Some((classify_hyper(&e), e.to_string())),
                    }
                }
                None
            })
            .await;
            match drained {
                Ok(error) => capture.finish(error),
                Err(_) => {
                    capture.buf.set_full();
                    capture.finish(None)
                }
            }
        });
    }
}

/// The body sent back to the client.
pub enum ClientBody {
    /// The primary's body, teed into the capture.
    Tee(TeeBody),
    /// The primary's body, untouched (unmirrored requests).
    Plain(UpstreamBody),
    /// A body cutover produced itself (502, 504, admin pages).
    Full(Option<Bytes>),
}

impl ClientBody {
    pub fn full(bytes: impl Into<Bytes>) -> ClientBody {
        ClientBody::Full(Some(bytes.into()))
    }
    pub fn empty() -> ClientBody {
        ClientBody::Full(None)
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ClientBody::Tee(t) => Pin::new(t).poll_frame(cx),
            ClientBody::Plain(b) => Pin::new(b).poll_frame(cx),
            ClientBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Tee(t) => t.is_end_stream(),
            ClientBody::Plain(b) => b.is_end_stream(),
            ClientBody::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Tee(t) => t.size_hint(),
            ClientBody::Plain(b) => b.size_hint(),
            ClientBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

pub use crate::upstream::micros;
