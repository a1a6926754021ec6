//! The build steps the frontend binary runs inside BuildKit: `facts` lists a layer mounted
//! read-only, `verdict` judges the facts files (the merge guards), `inventory` reads a part
//! for the SBOM ([`crate::sbom`]). Each is run as `aishell-frontend guard-step <kind> JSON`
//! in a container whose root is the frontend's own image.

use super::facts::{Facts, FactsRequest, RootTree, gather};
use super::verdict::{Verdict, VerdictRequest, judge};
use crate::sbom::scan::INVENTORY_FILE;
use crate::sbom::scan::{ScanRequest, scan};
use std::path::Path;
use std::process::ExitCode;

/// The first argument that selects the steps instead of the command line for people.
pub const ARG: &str = "guard-step";
/// Where a `facts` step finds the layer it lists (read-only).
pub const LAYER: &str = "/aishell/layer";
/// Where both steps write their file; this folder is the step's only output.
pub const OUT: &str = "/aishell/out";
/// Where a `verdict` step finds the facts: `tool-<i>`, `below`, `foundation`.
pub const FACTS: &str = "/aishell/facts";
/// The file a `facts` step writes.
pub const FACTS_FILE: &str = "facts.json";
/// The file a `verdict` step writes.
pub const VERDICT_FILE: &str = "verdict.json";

/// The folder (under [`FACTS`]) of tool `i`'s facts.
pub fn tool_dir(i: usize) -> String {
    format!("tool-{i}")
}

/// Runs a step: `args` are what follows [`ARG`]. Messages go to stderr, which BuildKit
/// shows under the step in the build's progress.
pub fn main(args: &[String]) -> ExitCode {
    let outcome = match args {
        [kind, json] if kind == "facts" => facts(json, Path::new(LAYER), Path::new(OUT)),
        [kind, json] if kind == "verdict" => verdict(json, Path::new(FACTS), Path::new(OUT)),
        [kind, json] if kind == "inventory" => inventory(json, Path::new(LAYER), Path::new(OUT)),
        _ => Err(format!(
            "usage: aishell-frontend {ARG} facts|verdict|inventory JSON (run by BuildKit for the merge guards and the SBOM)"
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(m) => {
            eprintln!("aishell-frontend {ARG}: {m}");
            ExitCode::FAILURE
        }
    }
}

/// Lists the folders `json` (a [`FactsRequest`]) names in the layer at `layer` and writes
/// them to `out`/[`FACTS_FILE`].
///
/// Errors: a bad request, an unreadable folder, an unwritable output.
pub fn facts(json: &str, layer: &Path, out: &Path) -> Result<(), String> {
    let req: FactsRequest =
        serde_json::from_str(json).map_err(|e| format!("bad facts request: {e}"))?;
    let facts =
        gather(&RootTree::new(layer), &req).map_err(|e| format!("cannot list the layer: {e}"))?;
    write_json(&out.join(FACTS_FILE), &facts)
}

/// Judges the facts under `facts` for `json` (a [`VerdictRequest`]) and writes the
/// [`Verdict`] to `out`/[`VERDICT_FILE`]. A verdict with problems is still a success of the
/// step: the frontend reads it and reports the problems with their spec lines.
///
/// Errors: a bad request, missing or unreadable facts.
pub fn verdict(json: &str, facts: &Path, out: &Path) -> Result<(), String> {
    let req: VerdictRequest =
        serde_json::from_str(json).map_err(|e| format!("bad verdict request: {e}"))?;
    let read = |dir: &str| -> Result<Facts, String> {
        let path = facts.join(dir).join(FACTS_FILE);
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let tools = (0..req.tools.len())
        .map(|i| read(&tool_dir(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let below = req.needs_below().then(|| read("below")).transpose()?;
    let foundation = req.extension.then(|| read("foundation")).transpose()?;
    let v: Verdict = judge(&req, &tools, below.as_ref(), foundation.as_ref())?;
    write_json(&out.join(VERDICT_FILE), &v)
}

/// Reads the part at `layer` for `json` (a [`ScanRequest`]) and writes the
/// [`crate::sbom::scan::Inventory`] to `out`/[`INVENTORY_FILE`].
///
/// Errors: a bad request, an unreadable database or folder.
pub fn inventory(json: &str, layer: &Path, out: &Path) -> Result<(), String> {
    let req: ScanRequest =
        serde_json::from_str(json).map_err(|e| format!("bad inventory request: {e}"))?;
    let inv = scan(layer, &req).map_err(|e| format!("cannot read the part: {e}"))?;
    write_json(&out.join(INVENTORY_FILE), &inv)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_chain_through_their_files() {
        let tool = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tool.path().join("tools/bin")).unwrap();
        std::fs::write(tool.path().join("tools/bin/t"), "x").unwrap();
        std::fs::create_dir_all(tool.path().join("etc")).unwrap();
        let req = VerdictRequest {
            prefix: "/tools".into(),
            tools: vec!["t".into()],
            parents: false,
            extension: false,
        };
        let facts_root = tempfile::tempdir().unwrap();
        let out = facts_root.path().join(tool_dir(0));
        std::fs::create_dir_all(&out).unwrap();
        let freq = serde_json::to_string(&req.facts_for_tool()).unwrap();
        facts(&freq, tool.path(), &out).unwrap();
        let vout = tempfile::tempdir().unwrap();
        verdict(
            &serde_json::to_string(&req).unwrap(),
            facts_root.path(),
            vout.path(),
        )
        .unwrap();
        let v: Verdict =
            serde_json::from_slice(&std::fs::read(vout.path().join(VERDICT_FILE)).unwrap())
                .unwrap();
        assert_eq!(v.tools[0].outside, ["/etc"]);
    }

    #[test]
    fn bad_requests_and_missing_facts_fail_the_step() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            facts("{\"nope\":1}", d.path(), d.path())
                .unwrap_err()
                .contains("bad facts request")
        );
        let req = r#"{"prefix":"/tools","tools":["t"],"parents":false,"extension":false}"#;
        let err = verdict(req, d.path(), d.path()).unwrap_err();
        assert!(err.contains("tool-0/facts.json"), "{err}");
    }
}
