//! A generated `LlbBridgeClient` talks to a fake daemon built from the
//! generated server half, over an in-memory byte pipe: plain HTTP/2 with
//! prior knowledge and a custom connector, the same shape as the real
//! frontend's stdin/stdout transport.

use std::error::Error;
use std::sync::{Arc, Mutex};

use aishell_proto::MAX_MESSAGE_SIZE;
use aishell_proto::apicaps::ApiCap;
use aishell_proto::gateway::llb_bridge_client::LlbBridgeClient;
use aishell_proto::gateway::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use aishell_proto::gateway::{
    EvaluateRequest, PingRequest, PongResponse, ReadFileRequest, ReadFileResponse,
};
use aishell_proto::types::WorkerRecord;
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tonic::codegen::http;
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Code, Request, Response, Status};
use tower::ServiceExt as _;

type TestResult = Result<(), Box<dyn Error>>;

/// Size of the file the fake daemon serves: above tonic's 4 MiB default
/// decode limit, below the 16 MiB BuildKit allows.
const BIG_FILE: usize = 5 << 20;

/// A daemon that answers Ping and ReadFile; everything else falls back to the
/// generated "unimplemented" stubs.
#[derive(Debug)]
struct FakeDaemon;

#[tonic::async_trait]
impl LlbBridge for FakeDaemon {
    async fn ping(&self, _request: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        Ok(Response::new(PongResponse {
            frontend_api_caps: vec![ApiCap {
                id: "solve.base".into(),
                enabled: true,
                ..ApiCap::default()
            }],
            llb_caps: Vec::new(),
            workers: vec![WorkerRecord {
                id: "fake-worker".into(),
                ..WorkerRecord::default()
            }],
        }))
    }

    async fn read_file(
        &self,
        request: Request<ReadFileRequest>,
    ) -> Result<Response<ReadFileResponse>, Status> {
        let request = request.into_inner();
        if request.file_path != "big" {
            return Err(Status::not_found(request.file_path));
        }
        Ok(Response::new(ReadFileResponse {
            data: vec![b'x'; BIG_FILE],
        }))
    }
}

/// Starts the fake daemon on one end of an in-memory pipe and returns the
/// other end plus the list of request paths the daemon saw.
fn spawn_daemon() -> (DuplexStream, Arc<Mutex<Vec<String>>>) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let seen = Arc::new(Mutex::new(Vec::new()));

    let recorder = Arc::clone(&seen);
    let service = LlbBridgeServer::new(FakeDaemon)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
        .map_request(move |req: http::Request<tonic::body::Body>| {
            if let Ok(mut paths) = recorder.lock() {
                paths.push(req.uri().path().to_string());
            }
            req
        });

    let incoming = tonic::codegen::tokio_stream::once(Ok::<_, std::io::Error>(server_io));
    tokio::spawn(Server::builder().serve_with_incoming(service, incoming));
    (client_io, seen)
}

/// Connects a client over `io`. The connector hands out the pipe once and
/// refuses any reconnect, as the stdio connector must.
async fn connect(io: DuplexStream) -> Result<Channel, tonic::transport::Error> {
    let slot = Arc::new(Mutex::new(Some(io)));
    let connector = tower::service_fn(move |_: Uri| {
        let io = slot.lock().ok().and_then(|mut guard| guard.take());
        async move {
            io.map(TokioIo::new).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotConnected, "pipe already used")
            })
        }
    });
    Endpoint::from_static("http://llb-bridge.invalid")
        .connect_with_connector(connector)
        .await
}

#[tokio::test]
async fn ping_round_trip_over_a_pipe() -> TestResult {
    let (io, seen) = spawn_daemon();
    let mut client = LlbBridgeClient::new(connect(io).await?)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);

    let pong = client.ping(PingRequest {}).await?.into_inner();
    assert_eq!(pong.frontend_api_caps.len(), 1);
    let cap = &pong.frontend_api_caps[0];
    assert_eq!(cap.id, "solve.base");
    assert!(cap.enabled);
    assert_eq!(
        pong.workers.first().map(|w| w.id.as_str()),
        Some("fake-worker")
    );

    // RPCs the fake does not implement come back as Unimplemented.
    let status = client
        .evaluate(EvaluateRequest { r#ref: "r".into() })
        .await
        .err()
        .ok_or("Evaluate should fail on the fake daemon")?;
    assert_eq!(status.code(), Code::Unimplemented);

    let paths = seen.lock().map_err(|e| e.to_string())?.clone();
    assert_eq!(
        paths,
        vec![
            "/moby.buildkit.v1.frontend.LLBBridge/Ping".to_string(),
            "/moby.buildkit.v1.frontend.LLBBridge/Evaluate".to_string(),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn raised_limits_carry_messages_above_four_mib() -> TestResult {
    let (io, _) = spawn_daemon();
    let channel = connect(io).await?;

    // With tonic's default 4 MiB decode limit the reply is refused...
    let mut default_client = LlbBridgeClient::new(channel.clone());
    let refused = default_client
        .read_file(ReadFileRequest {
            file_path: "big".into(),
            ..ReadFileRequest::default()
        })
        .await
        .err()
        .ok_or("a 5 MiB reply should exceed the default limit")?;
    assert_eq!(refused.code(), Code::OutOfRange);

    // ...and with the 16 MiB limit BuildKit uses it arrives whole.
    let mut client = LlbBridgeClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let data = client
        .read_file(ReadFileRequest {
            file_path: "big".into(),
            ..ReadFileRequest::default()
        })
        .await?
        .into_inner()
        .data;
    assert_eq!(data.len(), BIG_FILE);
    Ok(())
}

#[test]
fn service_name_is_buildkits() {
    use tonic::server::NamedService;
    assert_eq!(
        <LlbBridgeServer<FakeDaemon> as NamedService>::NAME,
        "moby.buildkit.v1.frontend.LLBBridge"
    );
}
