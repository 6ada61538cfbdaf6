//! The pieces that let a response break on the wire: a socket wrapper that can end its
//! connection with a TCP reset, and a body that can stop half way.
//!
//! hyper serves the HTTP/1.1; these two types reach under it:
//! * [`FaultIo`] wraps the `TcpStream`. When its [`ConnCtl`] says "reset", dropping it sets
//!   `SO_LINGER` to zero first, so the kernel sends RST instead of FIN. It also tells the body
//!   when hyper has flushed everything buffered so far.
//! * [`MockBody`] is either the whole body, or a prefix that is sent and flushed before the
//!   body fails (hyper then drops the connection: RST with the reset flag, FIN without).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Shared between one connection's socket wrapper and the bodies sent on it.
#[derive(Debug, Default)]
pub(crate) struct ConnCtl {
    reset: AtomicBool,
    flushed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnCtl {
    /// The connection is to end with a reset when it closes.
    pub(crate) fn request_reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    fn arm(&self) {
        self.flushed.store(false, Ordering::SeqCst);
    }

    fn on_flush(&self) {
        self.flushed.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// True once everything buffered before [`arm`](Self::arm) has reached the socket;
    /// otherwise registers `waker` for that moment.
    fn flushed_or_register(&self, waker: &Waker) -> bool {
        if self.flushed.load(Ordering::SeqCst) {
            return true;
        }
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
        self.flushed.load(Ordering::SeqCst)
    }
}

/// A `TcpStream` that can close with a reset.
#[derive(Debug)]
pub(crate) struct FaultIo {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl FaultIo {
    pub(crate) fn new(inner: TcpStream, ctl: Arc<ConnCtl>) -> Self {
        FaultIo { inner, ctl }
    }
}

impl Drop for FaultIo {
    fn drop(&mut self) {
        if self.ctl.reset.load(Ordering::SeqCst) {
            // Linger zero: closing discards unsent data and sends RST.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper calls this only once its own write buffer is empty.
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            self.ctl.on_flush();
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How a cut body ends after its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CutEnd {
    /// Close normally (FIN): the client sees fewer bytes than `Content-Length` promised.
    Close,
    /// Reset the connection (RST).
    Reset,
}

#[derive(Debug)]
enum Cut {
    SendPrefix(Bytes),
    WaitFlush,
    Finish,
    Done,
}

/// A response body: whole, or cut short on purpose.
#[derive(Debug)]
pub(crate) struct MockBody {
    full: Option<Bytes>,
    cut: Option<(Cut, CutEnd, Arc<ConnCtl>)>,
}

impl MockBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        MockBody {
            full: Some(bytes.into()),
            cut: None,
        }
    }

    /// Sends `prefix`, waits until it is on the wire, then ends as `end` says. The response
    /// must carry an explicit `Content-Length` (of the whole body) for the cut to show.
    pub(crate) fn cut(prefix: impl Into<Bytes>, end: CutEnd, ctl: Arc<ConnCtl>) -> Self {
        MockBody {
            full: None,
            cut: Some((Cut::SendPrefix(prefix.into()), end, ctl)),
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if let Some(bytes) = this.full.take() {
            return Poll::Ready((!bytes.is_empty()).then(|| Ok(Frame::data(bytes))));
        }
        let Some((state, end, ctl)) = this.cut.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match std::mem::replace(state, Cut::Done) {
                Cut::SendPrefix(prefix) => {
                    ctl.arm();
                    *state = Cut::WaitFlush;
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                Cut::WaitFlush => {
                    if ctl.flushed_or_register(cx.waker()) {
                        *state = Cut::Finish;
                    } else {
                        *state = Cut::WaitFlush;
                        return Poll::Pending;
                    }
                }
                Cut::Finish => {
                    return match end {
                        CutEnd::Close => Poll::Ready(None),
                        CutEnd::Reset => {
                            ctl.request_reset();
                            Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::ConnectionReset,
                                "injected fault: connection reset in the middle of the body",
                            ))))
                        }
                    };
                }
                Cut::Done => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cut.is_none() && self.full.as_ref().is_none_or(|b| b.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.full, &self.cut) {
            (_, Some(_)) => SizeHint::default(),
            (Some(b), None) => SizeHint::with_exact(b.len() as u64),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}
