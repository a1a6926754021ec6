//! The BuildKit gateway bridge, behind a trait.
//!
//! [`Bridge`] lists the calls the frontend makes. [`GrpcBridge`] speaks them to the
//! daemon over one HTTP/2 connection on the process's stdin/stdout (BuildKit is the gRPC
//! server, we are the client). Tests implement [`Bridge`] with a fake daemon, so the whole
//! frontend flow runs without an engine.

use aishell_proto::gateway as gw;
use aishell_proto::gateway::llb_bridge_client::LlbBridgeClient;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// The result of a gateway call.
pub type GwResult<T> = Result<T, tonic::Status>;

/// The gateway calls the frontend makes, and no other: each mirrors one `LLBBridge` RPC
/// that production code calls (fakes in tests implement exactly these). Calls take `&self`:
/// the platforms of one build are solved side by side over the one connection.
#[allow(async_fn_in_trait)] // used with concrete types only; no Send bound needed
pub trait Bridge {
    /// Capabilities and workers.
    async fn ping(&self) -> GwResult<gw::PongResponse>;
    /// Solves a definition (lazily) or calls another frontend.
    async fn solve(&self, req: gw::SolveRequest) -> GwResult<gw::SolveResponse>;
    /// Reads a file of a solved ref.
    async fn read_file(&self, req: gw::ReadFileRequest) -> GwResult<Vec<u8>>;
    /// Type, permissions and size of a path of a solved ref.
    async fn stat_file(&self, req: gw::StatFileRequest) -> GwResult<gw::StatFileResponse>;
    /// Resolves an image reference to a digest and config.
    async fn resolve_image_config(
        &self,
        req: gw::ResolveImageConfigRequest,
    ) -> GwResult<gw::ResolveImageConfigResponse>;
    /// Shows a warning in the client's output.
    async fn warn(&self, req: gw::WarnRequest) -> GwResult<()>;
    /// The final answer; called exactly once.
    async fn return_result(&self, req: gw::ReturnRequest) -> GwResult<()>;
}

/// A duplex byte stream made of a read half and a write half.
pub struct Duplex {
    r: Pin<Box<dyn AsyncRead + Send>>,
    w: Pin<Box<dyn AsyncWrite + Send>>,
}

impl std::fmt::Debug for Duplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Duplex")
    }
}

impl Duplex {
    /// Joins two halves.
    pub fn new(r: impl AsyncRead + Send + 'static, w: impl AsyncWrite + Send + 'static) -> Self {
        Duplex {
            r: Box::pin(r),
            w: Box::pin(w),
        }
    }

    /// The process's stdin (daemon → us) and stdout (us → daemon).
    ///
    /// BuildKit hands us pipes (runc) or FIFOs (containerd); both are driven by epoll
    /// through duplicated descriptors, so fds 0 and 1 themselves are never closed. If they
    /// are not pipes (someone ran us by hand), tokio's blocking wrappers are used.
    pub fn stdio() -> io::Result<Self> {
        use std::os::fd::AsFd;
        use std::os::unix::fs::FileTypeExt;
        let input = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let output = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned()?);
        let fifo = |f: &std::fs::File| {
            f.metadata()
                .map(|m| m.file_type().is_fifo())
                .unwrap_or(false)
        };
        if fifo(&input) && fifo(&output) {
            let r = tokio::net::unix::pipe::Receiver::from_file(input)?;
            let w = tokio::net::unix::pipe::Sender::from_file(output)?;
            Ok(Duplex::new(r, w))
        } else {
            Ok(Duplex::new(tokio::io::stdin(), tokio::io::stdout()))
        }
    }
}

impl AsyncRead for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.r.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.w.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.w.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.w.as_mut().poll_shutdown(cx)
    }
}

/// The real bridge: tonic over one connection.
#[derive(Debug, Clone)]
pub struct GrpcBridge {
    client: LlbBridgeClient<Channel>,
}

impl GrpcBridge {
    /// Connects over `io`. The connection is made once; a reconnect attempt fails
    /// instead of inventing a second connection, since there is only one pipe pair.
    ///
    /// Errors: the HTTP/2 handshake failed.
    pub async fn connect(io: Duplex) -> Result<Self, tonic::transport::Error> {
        let slot = Arc::new(Mutex::new(Some(io)));
        let connector = tower::service_fn(move |_: Uri| {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            async move {
                taken.map(TokioIo::new).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotConnected,
                        "the gateway connection was lost and cannot be reopened",
                    )
                })
            }
        });
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await?;
        let client = LlbBridgeClient::new(channel)
            .max_decoding_message_size(aishell_proto::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(aishell_proto::MAX_MESSAGE_SIZE);
        Ok(GrpcBridge { client })
    }
}

impl GrpcBridge {
    /// A handle for one call: tonic's client is a cheap clone of the channel, and each
    /// call needs its own, so that platforms built side by side call the daemon at once.
    fn client(&self) -> LlbBridgeClient<Channel> {
        self.client.clone()
    }
}

impl Bridge for GrpcBridge {
    async fn ping(&self) -> GwResult<gw::PongResponse> {
        Ok(self.client().ping(gw::PingRequest {}).await?.into_inner())
    }

    async fn solve(&self, req: gw::SolveRequest) -> GwResult<gw::SolveResponse> {
        tracing::debug!(
            "Solve: {} op(s){}",
            req.definition.as_ref().map_or(0, |d| d.def.len()),
            if req.frontend.is_empty() {
                String::new()
            } else {
                format!(", frontend {}", req.frontend)
            }
        );
        Ok(self.client().solve(req).await?.into_inner())
    }

    async fn read_file(&self, req: gw::ReadFileRequest) -> GwResult<Vec<u8>> {
        tracing::debug!("ReadFile {}", req.file_path);
        Ok(self.client().read_file(req).await?.into_inner().data)
    }

    async fn stat_file(&self, req: gw::StatFileRequest) -> GwResult<gw::StatFileResponse> {
        Ok(self.client().stat_file(req).await?.into_inner())
    }

    async fn resolve_image_config(
        &self,
        req: gw::ResolveImageConfigRequest,
    ) -> GwResult<gw::ResolveImageConfigResponse> {
        tracing::debug!("ResolveImageConfig {}", req.r#ref);
        Ok(self.client().resolve_image_config(req).await?.into_inner())
    }

    async fn warn(&self, req: gw::WarnRequest) -> GwResult<()> {
        self.client().warn(req).await?;
        Ok(())
    }

    async fn return_result(&self, req: gw::ReturnRequest) -> GwResult<()> {
        self.client().r#return(req).await?;
        Ok(())
    }
}

/// How long we wait for the builder's answer to calls that must be quick, so a builder
/// that stopped answering (but keeps the pipe open) ends the frontend with an error instead
/// of a hang. `Solve` and `ReadFile` of build results get no limit: they return
/// when the layers they need are built, which takes as long as the user's `apt`, `run` and
/// npm steps take (minutes to hours). A builder that *dies* needs no limit either: the
/// closed pipe fails every pending call at once (tests/faults.rs checks both).
pub mod limits {
    use std::time::Duration;

    /// `Ping`, the first call: answered from the daemon's memory.
    pub const PING: Duration = Duration::from_secs(30);
    /// `ResolveImageConfig`: a registry round trip (or a few, with redirects and auth).
    pub const RESOLVE_IMAGE_CONFIG: Duration = Duration::from_secs(300);
    /// `Return`: the daemon only records the result.
    pub const RETURN: Duration = Duration::from_secs(60);
}

/// Runs a gateway call with a time limit; running out is a `DeadlineExceeded` status.
pub(crate) async fn within<T>(
    limit: Duration,
    call: impl Future<Output = crate::session::gateway::GwResult<T>>,
) -> crate::session::gateway::GwResult<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r,
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "no answer from the builder within {} s",
            limit.as_secs()
        ))),
    }
}
