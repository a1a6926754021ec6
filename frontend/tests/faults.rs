//! Faults on the frontend's side of the gateway: a panic anywhere in the flow, a builder
//! that stops answering, a builder that goes away. In each case the frontend ends — with
//! the single `Return` carrying an error when the builder can still hear it, with an error
//! of the process when it cannot — and never hangs or dies silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::session::build::run;
use aishell_frontend::session::gateway::limits;
use aishell_frontend::session::gateway::{Duplex, GrpcBridge, GwResult};
use aishell_proto::gateway as gw;
use aishell_proto::gateway::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use aishell_proto::pb;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

mod common;
use common::builder::{Builder, Hooks, Solved};
use common::{MERGE, error_of, pong, resolved, solved};

const SPEC: &str = "version: 1\nfoundation:\n  from: busybox:1\n  run: [echo hi]\n";

fn env() -> Vec<(String, String)> {
    common::frontend_env(&[])
}

/// What the fake builders answer to `ResolveImageConfig`: an image with no config.
const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux"}"#;

/// Where a [`Faulty`] builder misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Panics inside `ResolveImageConfig` (between the guarded steps of the flow).
    PanicInResolve,
    /// Panics inside the final `Solve`, after the conversion.
    PanicInSolve,
    /// Never answers `Ping`.
    SilentPing,
    /// Never answers `ResolveImageConfig`.
    SilentResolve,
}

/// The shared builder's hooks for one fault: every call is answered as a working builder
/// does, except the faulty one.
struct Faulty(Fault);

impl Hooks for Faulty {
    async fn ping(&self) -> Option<GwResult<gw::PongResponse>> {
        if self.0 == Fault::SilentPing {
            std::future::pending::<()>().await;
        }
        None
    }

    async fn solve(
        &self,
        _req: &gw::SolveRequest,
        _id: &str,
        what: &Solved,
    ) -> Option<GwResult<gw::SolveResponse>> {
        // Loading the spec still works: the panic comes once the graph is converted.
        let spec_load = matches!(what, Solved::Local(_));
        if !spec_load && self.0 == Fault::PanicInSolve {
            panic!("the fake builder panicked in Solve");
        }
        None
    }

    async fn resolve_image_config(
        &self,
        _req: &gw::ResolveImageConfigRequest,
    ) -> Option<GwResult<gw::ResolveImageConfigResponse>> {
        match self.0 {
            Fault::PanicInResolve => panic!("the fake builder panicked in ResolveImageConfig"),
            Fault::SilentResolve => std::future::pending::<()>().await,
            _ => {}
        }
        None
    }
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        Faulty(fault)
    }

    /// Runs the frontend against the builder with this fault and returns the error of its
    /// single `Return`.
    async fn run(self) -> String {
        let mut b = Builder::serving(SPEC).with_hooks(self);
        b.unpinned = Some(serde_json::from_slice(CONFIG).unwrap());
        run(&b.live(), env()).await.unwrap();
        error_of(&b.returns).to_string()
    }
}

#[tokio::test]
async fn a_panic_between_gateway_calls_is_returned_as_an_internal_error() {
    let message = Faulty::new(Fault::PanicInResolve).run().await;
    assert!(
        message.starts_with("internal error in aishell-frontend (please report it): "),
        "{message}"
    );
    assert!(
        message.contains("panicked in ResolveImageConfig"),
        "{message}"
    );
}

#[tokio::test]
async fn a_panic_after_the_conversion_is_returned_as_an_internal_error() {
    let message = Faulty::new(Fault::PanicInSolve).run().await;
    assert!(
        message.contains("internal error in aishell-frontend"),
        "{message}"
    );
    assert!(message.contains("panicked in Solve"), "{message}");
}

// Paused time: tokio moves the clock forward when every task waits, so the limits are
// reached at once instead of after 30 s or 5 min of real time.
#[tokio::test(start_paused = true)]
async fn a_builder_that_never_answers_ping_gets_a_timeout_error() {
    let started = tokio::time::Instant::now();
    let message = Faulty::new(Fault::SilentPing).run().await;
    assert!(
        message.contains("the builder did not answer ping"),
        "{message}"
    );
    assert!(message.contains("within 30 s"), "{message}");
    assert_eq!(started.elapsed().as_secs(), limits::PING.as_secs());
}

#[tokio::test(start_paused = true)]
async fn a_builder_that_never_resolves_an_image_gets_a_timeout_error() {
    let message = Faulty::new(Fault::SilentResolve).run().await;
    assert!(
        message.contains("cannot resolve image docker.io/library/busybox:1"),
        "{message}"
    );
    assert!(message.contains("within 300 s"), "{message}");
}

/// A daemon that answers `Ping`, loads the spec and then, like a daemon building slow
/// layers, never answers the next `Solve`; it tells the test when that `Solve` arrived.
struct SlowDaemon {
    solving: mpsc::UnboundedSender<()>,
}

#[tonic::async_trait]
impl LlbBridge for SlowDaemon {
    async fn ping(
        &self,
        _r: Request<gw::PingRequest>,
    ) -> Result<Response<gw::PongResponse>, Status> {
        Ok(Response::new(pong(MERGE)))
    }
    async fn solve(
        &self,
        r: Request<gw::SolveRequest>,
    ) -> Result<Response<gw::SolveResponse>, Status> {
        let def: Option<pb::Definition> = r.into_inner().definition;
        if def.is_some_and(|d| d.def.len() == 2) {
            return Ok(Response::new(solved("ref-spec", None)));
        }
        let _ = self.solving.send(());
        std::future::pending::<()>().await;
        unreachable!()
    }
    async fn read_file(
        &self,
        _r: Request<gw::ReadFileRequest>,
    ) -> Result<Response<gw::ReadFileResponse>, Status> {
        Ok(Response::new(gw::ReadFileResponse {
            data: SPEC.as_bytes().to_vec(),
        }))
    }
    async fn resolve_image_config(
        &self,
        r: Request<gw::ResolveImageConfigRequest>,
    ) -> Result<Response<gw::ResolveImageConfigResponse>, Status> {
        Ok(Response::new(resolved(r.into_inner(), "", CONFIG)))
    }
}

#[tokio::test]
async fn a_builder_that_dies_during_a_solve_ends_the_run_promptly() {
    // frontend <-> relay <-> daemon: aborting the relay drops both of its pipe ends, as
    // when the daemon process dies (the frontend sees its stdin close).
    let (frontend_io, relay_front) = tokio::io::duplex(64 * 1024);
    let (relay_back, daemon_io) = tokio::io::duplex(64 * 1024);
    let (tx, mut solving) = mpsc::unbounded_channel();
    let incoming = tonic::codegen::tokio_stream::once(Ok::<_, std::io::Error>(daemon_io));
    tokio::spawn(
        tonic::transport::Server::builder()
            .serve_with_incoming(LlbBridgeServer::new(SlowDaemon { solving: tx }), incoming),
    );
    let relay = tokio::spawn(async move {
        let (mut a, mut b) = (relay_front, relay_back);
        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
    });

    let (r, w) = tokio::io::split(frontend_io);
    let bridge = GrpcBridge::connect(Duplex::new(r, w)).await.unwrap();
    let frontend = tokio::spawn(async move { run(&bridge, env()).await });

    // The build is under way (the image's Solve is pending) when the daemon goes away.
    tokio::time::timeout(Duration::from_secs(20), solving.recv())
        .await
        .expect("the frontend reached the final Solve")
        .unwrap();
    relay.abort();

    // Well under any of the limits: a closed pipe fails the pending Solve and the Return
    // at once; nothing waits for a timeout.
    let outcome = tokio::time::timeout(Duration::from_secs(10), frontend)
        .await
        .expect("the frontend ends promptly when the builder is gone")
        .unwrap();
    let err = outcome.expect_err("nobody is left to Return to, so run reports an error");
    assert!(err.starts_with("Return failed: "), "{err}");
}
