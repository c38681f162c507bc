//! Accept loop with graceful shutdown: on the signal, stop accepting, mark
//! the kernel not ready, and let in-flight requests finish (up to a drain
//! timeout).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::{AppState, router};

/// A future that resolves when the server should shut down.
pub type ShutdownSignal = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The HTTP server bound to its listener.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    drain_timeout: Duration,
}

impl Server {
    /// Bind `address` (port 0 picks a free port).
    pub async fn bind(
        address: SocketAddr,
        state: Arc<AppState>,
        drain_timeout: Duration,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        Ok(Self {
            listener,
            state,
            drain_timeout,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` resolves, then drain.
    pub async fn run(self, shutdown: ShutdownSignal) {
        let builder = Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        let mut shutdown = shutdown;
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let state = self.state.clone();
                    let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(ClientAddress(peer.ip()));
                        router::handle(state.clone(), request)
                    });
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection.into_owned());
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        self.state.ready.store(false, Ordering::Release);
        drop(self.listener);
        tracing::info!(
            connections = graceful.count(),
            "shutting down: draining in-flight requests"
        );
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                timeout_s = self.drain_timeout.as_secs(),
                "drain timed out; closing remaining connections"
            );
        }
    }
}

/// The address of the client of a request (the TCP peer), in the request's
/// extensions. Used for login rate limiting and the audit log.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub std::net::IpAddr);
