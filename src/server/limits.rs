//! What keeps build-listener from being starved (SPEC §11): a cap on open connections, and
//! deadlines on every connection.
//!
//! - At most `[build_listener] max_connections` connections are open at once (default 512,
//!   below systemd's `LimitNOFILE` of 1,024): past that, new ones wait in the kernel's backlog
//!   rather than take the file descriptors `/healthz` and real callbacks need.
//! - A request must arrive whole — headers and body — within [`REQUEST_TIMEOUT`] of its first
//!   byte (or of the connection opening): a client that sends slowly, or not at all, is cut off.
//! - A keep-alive connection with no request in flight is closed after [`IDLE_TIMEOUT`].
//!
//! hyper's own `header_read_timeout` cannot tell "waiting for the next request on a kept-alive
//! connection" from "reading a request slowly", and axum's `serve` sets no timeouts at all, so
//! both live here, in the connection's reads and writes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Time a request has to arrive whole, from its first byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a kept-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A listener that caps open connections and puts deadlines on them.
pub struct Limited {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    request_timeout: Duration,
    idle_timeout: Duration,
}

impl Limited {
    pub fn new(listener: TcpListener, max_connections: usize) -> Limited {
        Limited {
            listener,
            permits: Arc::new(Semaphore::new(max_connections)),
            request_timeout: REQUEST_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        // Never closed, so acquiring cannot fail; waiting here is the cap.
        let permit = match self.permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => std::future::pending().await,
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        Guarded::new(stream, permit, self.request_timeout, self.idle_timeout),
                        addr,
                    );
                }
                Err(e) => {
                    // EMFILE and friends: wait for a descriptor to come back instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Where a connection is: reading a request (short deadline) or between requests (idle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Request,
    Idle,
}

/// One accepted connection: its stream, its slot under the cap, and its deadline.
pub struct Guarded {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    request_timeout: Duration,
    idle_timeout: Duration,
}

impl Guarded {
    fn new(
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        request_timeout: Duration,
        idle_timeout: Duration,
    ) -> Guarded {
        Guarded {
            stream,
            _permit: permit,
            // A new connection is waiting for its first request: the short deadline.
            phase: Phase::Request,
            deadline: Box::pin(tokio::time::sleep(request_timeout)),
            request_timeout,
            idle_timeout,
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }

    /// What a write came to: once a byte of the answer is out, the request is in, and what
    /// follows is idle time.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.phase = Phase::Idle;
                    let at = Instant::now() + self.idle_timeout;
                    self.deadline.as_mut().reset(at);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(self.timed_out())),
            other => other,
        }
    }

    fn timed_out(&self) -> io::Error {
        let what = match self.phase {
            Phase::Request => "the request did not arrive in time",
            Phase::Idle => "the connection was idle too long",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && self.phase == Phase::Idle {
                    // The first byte of the next request: it has REQUEST_TIMEOUT to arrive.
                    self.phase = Phase::Request;
                    let at = Instant::now() + self.request_timeout;
                    self.deadline.as_mut().reset(at);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(self.timed_out())),
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.written(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.written(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
