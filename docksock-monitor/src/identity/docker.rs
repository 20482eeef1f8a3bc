//! One Docker Engine API call: `GET /containers/{id}/json` over a unix
//! socket, with hyper's HTTP/1 client.
//!
//! The answer is untrusted input like any other: the body is capped, and a
//! reply that is not the expected JSON is an error, not a guess.

use std::path::Path;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{header, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::UnixStream;

/// Largest inspect reply read; real ones are a few KiB, more with many
/// mounts and environment variables.
const MAX_REPLY: usize = 4 << 20;

/// What docksock keeps from an inspect reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Name without the leading `/`.
    pub name: String,
    /// Image name the container was created from (`Config.Image`).
    pub image: String,
}

/// Why a container lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The socket could not be connected to.
    #[error("connecting to {socket}: {source}")]
    Connect {
        /// Socket path.
        socket: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP exchange on {socket}: {source}")]
    Http {
        /// Socket path.
        socket: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API answered with a status other than 200 or 404.
    #[error("{socket} answered {status} to a container inspect")]
    Status {
        /// Socket path.
        socket: String,
        /// The status code.
        status: u16,
    },
    /// The reply body is not an inspect document.
    #[error("{socket} sent an inspect reply docksock cannot read: {source}")]
    Reply {
        /// Socket path.
        socket: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// No answer came within the lookup timeout.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
}

#[derive(Deserialize)]
struct Inspect {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Config")]
    config: InspectConfig,
}

#[derive(Deserialize)]
struct InspectConfig {
    #[serde(rename = "Image")]
    image: String,
}

/// Aborts the connection task when the lookup ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Inspects container `id` through the API at `socket`; `Ok(None)` when the
/// daemon does not know the id.
///
/// `id` must be a container id (hex): it is put in the path unescaped.
pub async fn inspect(
    socket: &Path,
    id: &str,
) -> Result<Option<ContainerInfo>, LookupError> {
    let sock = socket.display().to_string();
    let http_err = |e: Box<dyn std::error::Error + Send + Sync>| LookupError::Http {
        socket: sock.clone(),
        source: e,
    };

    let stream =
        UnixStream::connect(socket)
            .await
            .map_err(|source| LookupError::Connect {
                socket: sock.clone(),
                source,
            })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http_err(e.into()))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = conn.await {
            log::debug!("docker API connection ended: {e}");
        }
    }));

    let req = Request::get(format!("/containers/{id}/json"))
        .header(header::HOST, "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|e| http_err(e.into()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| http_err(e.into()))?;

    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Ok(None),
        other => {
            return Err(LookupError::Status {
                socket: sock,
                status: other.as_u16(),
            })
        }
    }

    let body = Limited::new(resp.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(http_err)?
        .to_bytes();
    let doc: Inspect =
        serde_json::from_slice(&body).map_err(|source| LookupError::Reply {
            socket: sock,
            source,
        })?;
    Ok(Some(ContainerInfo {
        name: doc.name.trim_start_matches('/').to_owned(),
        image: doc.config.image,
    }))
}
