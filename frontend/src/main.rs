//! `aishell-frontend`: run by BuildKit as a `# syntax=` frontend (no arguments), or by a
//! person with a subcommand (`check`, `plan`, `diff`, `graph`, `llb`; see `--help`), or by
//! BuildKit again for the merge guards' steps (`guard-step`, inside a build).

use std::process::ExitCode;

fn main() -> ExitCode {
    // BuildKit starts a frontend with no arguments; any argument means a person is asking.
    // `args_os`, because a spec path need not be UTF-8.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // The merge guards' build steps run this binary too, from the frontend's own image.
    if args
        .first()
        .is_some_and(|a| a == aishell_frontend::guards::step::ARG)
    {
        let rest: Vec<String> = args[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return aishell_frontend::guards::step::main(&rest);
    }
    if !args.is_empty() {
        return aishell_frontend::cli::main(args);
    }
    frontend()
}

/// Frontend mode: speak the gateway protocol on stdin/stdout.
fn frontend() -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    aishell_frontend::session::log::init(&env);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = rt.block_on(async {
        let io = aishell_frontend::session::gateway::Duplex::stdio()
            .map_err(|e| format!("cannot open stdin/stdout: {e}"))?;
        // The HTTP/2 handshake over our own pipes: a builder that started us answers at
        // once, so a long wait means nobody is on the other end (someone ran us by hand
        // with a terminal or a pipe that never answers).
        let limit = aishell_frontend::session::gateway::limits::PING;
        let connect = aishell_frontend::session::gateway::GrpcBridge::connect(io);
        let bridge = tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| {
                format!(
                    "no builder answered on stdin/stdout within {} s (run without arguments only by BuildKit; see --help)",
                    limit.as_secs()
                )
            })?
            .map_err(|e| format!("cannot connect to the builder: {e}"))?;
        aishell_frontend::session::build::run(&bridge, env).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
