//! `GrpcBridge::read_dirs` over a real gRPC connection: the listings of a batch are in flight
//! together (so BuildKit builds the refs behind them side by side), the answers come back in
//! the order asked, and a failed build ends the wait at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::gateway::{Bridge, Duplex, GrpcBridge, is_not_listed};
use aishell_proto::gateway as gw;
use aishell_proto::gateway::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use tonic::{Request, Response, Status};

/// Answers `ReadDir` by folder name: `/fail` fails at once (a build that failed), `/missing`
/// is not found, `/never` never answers (a build still running); any other folder answers
/// only once `barrier` many listings are waiting together, so a client that sends one
/// listing after another never gets an answer.
struct Daemon {
    barrier: Arc<Barrier>,
}

#[tonic::async_trait]
impl LlbBridge for Daemon {
    async fn read_dir(
        &self,
        r: Request<gw::ReadDirRequest>,
    ) -> Result<Response<gw::ReadDirResponse>, Status> {
        let dir = r.into_inner().dir_path;
        match dir.as_str() {
            "/fail" => return Err(Status::unknown("process did not complete: exit code: 1")),
            "/missing" => return Err(Status::not_found("no such file or directory")),
            "/never" => std::future::pending::<()>().await,
            _ => {
                self.barrier.wait().await;
            }
        }
        Ok(Response::new(gw::ReadDirResponse {
            entries: vec![aishell_proto::fsutil::Stat {
                path: dir,
                ..Default::default()
            }],
        }))
    }
}

async fn bridge(together: usize) -> GrpcBridge {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let incoming = tonic::codegen::tokio_stream::once(Ok::<_, std::io::Error>(theirs));
    let daemon = Daemon {
        barrier: Arc::new(Barrier::new(together)),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .serve_with_incoming(LlbBridgeServer::new(daemon), incoming),
    );
    let (r, w) = tokio::io::split(ours);
    GrpcBridge::connect(Duplex::new(r, w)).await.unwrap()
}

fn reqs(dirs: &[&str]) -> Vec<gw::ReadDirRequest> {
    dirs.iter()
        .map(|d| gw::ReadDirRequest {
            r#ref: "r".into(),
            dir_path: d.to_string(),
            ..Default::default()
        })
        .collect()
}

fn fatal(s: &Status) -> bool {
    s.code() != tonic::Code::NotFound
}

/// A guard against a hang: the answers below come at once or never.
const NEVER: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_batch_is_in_flight_together_and_answered_in_order() {
    let dirs = ["/a", "/b", "/missing", "/c", "/d", "/e"];
    let mut b = bridge(5).await;
    let answers = tokio::time::timeout(NEVER, b.read_dirs(reqs(&dirs), fatal))
        .await
        .expect("the five listings waited for each other, so they were sent together");
    let got: Vec<String> = answers
        .into_iter()
        .map(|a| match a {
            Ok(r) => r.entries[0].path.clone(),
            Err(s) => format!("{:?}", s.code()),
        })
        .collect();
    assert_eq!(got, ["/a", "/b", "NotFound", "/c", "/d", "/e"]);
}

#[tokio::test]
async fn a_failed_build_ends_the_wait_for_the_listings_still_running() {
    let mut b = bridge(1).await;
    let answers = tokio::time::timeout(
        NEVER,
        b.read_dirs(reqs(&["/never", "/fail", "/never"]), fatal),
    )
    .await
    .expect("the failure is answered without waiting for the others");
    assert!(
        matches!(&answers[0], Err(s) if is_not_listed(s)),
        "{:?}",
        answers[0]
    );
    assert!(
        matches!(&answers[1], Err(s) if s.message() == "process did not complete: exit code: 1"),
        "{:?}",
        answers[1]
    );
    assert!(
        matches!(&answers[2], Err(s) if is_not_listed(s)),
        "{:?}",
        answers[2]
    );
    // The connection is still good for the calls after it.
    let more = tokio::time::timeout(NEVER, b.read_dirs(reqs(&["/x"]), fatal))
        .await
        .unwrap();
    assert_eq!(more[0].as_ref().unwrap().entries[0].path, "/x");
}
