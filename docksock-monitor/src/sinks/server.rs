//! The HTTP endpoint Prometheus scrapes: `/metrics` and `/healthz`, served
//! with hyper's HTTP/1 server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;

/// A bound metrics listener; [`MetricsServer::run`] serves it.
pub struct MetricsServer {
    listener: TcpListener,
    metrics: Arc<Metrics>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, metrics })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped; each connection gets its own task.
    pub async fn run(self) {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of fds or similar: keep serving those already open.
                    log::warn!("metrics listener: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = Arc::clone(&self.metrics);
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let metrics = Arc::clone(&metrics);
                    async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    log::debug!("metrics connection from {peer}: {e}");
                }
            });
        }
    }
}

fn answer(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".into());
    }
    match req.uri().path() {
        "/metrics" => match metrics.render() {
            Ok(text) => {
                let mut resp = plain(StatusCode::OK, text);
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(prometheus::TEXT_FORMAT),
                );
                resp
            }
            Err(e) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding metrics: {e}\n"),
            ),
        },
        "/healthz" => plain(StatusCode::OK, "ok\n".into()),
        _ => plain(StatusCode::NOT_FOUND, "try /metrics or /healthz\n".into()),
    }
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
