//! The verdict: every check run over the facts of the layers, in one step whose inputs are
//! the small facts files only.

use super::checks::{self, Collision, ParentChange};
use super::facts::{Facts, FactsRequest, NotGathered};
use serde::{Deserialize, Serialize};

/// What the verdict checks: the harness tools (in layer order) and which comparisons apply.
///
/// ```
/// use aishell_frontend::guards::verdict::VerdictRequest;
/// let r = VerdictRequest { prefix: "/tools".into(), tools: vec!["gitleaks".into()], parents: true, extension: false };
/// assert_eq!(r.facts_for_below().dirs, ["/"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictRequest {
    /// The harness prefix.
    pub prefix: String,
    /// The harness tools, bottom to top; their facts are given in this order.
    pub tools: Vec<String>,
    /// Compare the tools' folders on the way to the prefix with the image below them.
    pub parents: bool,
    /// Check that the extension (the image below) adds nothing under the prefix that the
    /// foundation does not have.
    pub extension: bool,
}

impl VerdictRequest {
    /// The folders a tool layer's facts must hold.
    pub fn facts_for_tool(&self) -> FactsRequest {
        let [bin, npm_bin, modules] = checks::provided_dirs(&self.prefix);
        let mut dirs = checks::ancestors(&self.prefix);
        dirs.extend([bin, npm_bin]);
        FactsRequest {
            dirs,
            scoped: vec![modules],
            trees: Vec::new(),
        }
    }

    /// The folders the facts of the image below the harness must hold (it is also the
    /// extension that is checked).
    pub fn facts_for_below(&self) -> FactsRequest {
        FactsRequest {
            dirs: if self.parents {
                checks::ancestors(&self.prefix)
            } else {
                Vec::new()
            },
            scoped: Vec::new(),
            trees: if self.extension {
                vec![self.prefix.clone()]
            } else {
                Vec::new()
            },
        }
    }

    /// The folders the foundation's facts must hold (for the extension check).
    pub fn facts_for_foundation(&self) -> FactsRequest {
        FactsRequest {
            trees: vec![self.prefix.clone()],
            ..Default::default()
        }
    }

    /// Does the image below the harness need facts of its own?
    pub fn needs_below(&self) -> bool {
        self.parents || self.extension
    }
}

/// What one tool's checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolVerdict {
    /// Paths outside the prefix.
    pub outside: Vec<String>,
    /// Folders on the way to the prefix that differ from the image below.
    pub parents: Vec<ParentChange>,
}

/// What the checks found; empty lists everywhere when the layers can be merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Per tool, in the order of the request.
    pub tools: Vec<ToolVerdict>,
    /// Paths the extension adds under the prefix.
    pub extension: Vec<String>,
    /// Paths more than one tool provides.
    pub collisions: Vec<Collision>,
}

impl Verdict {
    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        self.extension.is_empty()
            && self.collisions.is_empty()
            && self
                .tools
                .iter()
                .all(|t| t.outside.is_empty() && t.parents.is_empty())
    }
}

/// Runs the checks of `req` on the facts: one per tool in order, the image below the
/// harness, the foundation.
///
/// Errors: the facts lack a folder a check needs, or facts that the request needs are
/// missing.
pub fn judge(
    req: &VerdictRequest,
    tools: &[Facts],
    below: Option<&Facts>,
    foundation: Option<&Facts>,
) -> Result<Verdict, String> {
    if tools.len() != req.tools.len() {
        return Err(format!(
            "{} tools to check but facts of {}",
            req.tools.len(),
            tools.len()
        ));
    }
    let need = |f: Option<&'_ Facts>, what: &str| -> Result<(), String> {
        f.map(|_| ())
            .ok_or_else(|| format!("no facts of {what} were given"))
    };
    let e = |n: NotGathered| n.to_string();
    let mut verdict = Verdict::default();
    let mut provided = Vec::new();
    for (name, facts) in req.tools.iter().zip(tools) {
        let mut t = ToolVerdict {
            outside: checks::outside_prefix(facts, &req.prefix).map_err(e)?,
            ..Default::default()
        };
        if req.parents {
            need(below, "the image below the harness")?;
            if let Some(below) = below {
                t.parents = checks::parents_changed(facts, below, &req.prefix).map_err(e)?;
            }
        }
        provided.push((
            name.clone(),
            checks::provided(facts, &req.prefix).map_err(e)?,
        ));
        verdict.tools.push(t);
    }
    if req.extension {
        need(below, "the extension")?;
        need(foundation, "the foundation")?;
        if let (Some(ext), Some(base)) = (below, foundation) {
            verdict.extension =
                checks::extension_under_prefix(ext, base, &req.prefix).map_err(e)?;
        }
    }
    verdict.collisions = checks::collisions(&provided);
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::super::facts::{RootTree, gather};
    use super::*;
    use std::path::Path;

    fn layer(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            let p = t.path().join(f.trim_start_matches('/'));
            if f.ends_with('/') {
                std::fs::create_dir_all(&p).unwrap();
            } else {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, "x").unwrap();
            }
        }
        t
    }

    fn facts_of(root: &Path, req: &FactsRequest) -> Facts {
        gather(&RootTree::new(root), req).unwrap()
    }

    fn request(tools: &[&str]) -> VerdictRequest {
        VerdictRequest {
            prefix: "/tools".into(),
            tools: tools.iter().map(|t| t.to_string()).collect(),
            parents: true,
            extension: true,
        }
    }

    /// Judges real folders: each tool layer, the image below, the foundation.
    fn judge_dirs(req: &VerdictRequest, tools: &[&Path], below: &Path, base: &Path) -> Verdict {
        let tools: Vec<Facts> = tools
            .iter()
            .map(|t| facts_of(t, &req.facts_for_tool()))
            .collect();
        let below = facts_of(below, &req.facts_for_below());
        let base = facts_of(base, &req.facts_for_foundation());
        judge(req, &tools, Some(&below), Some(&base)).unwrap()
    }

    #[test]
    fn clean_layers_give_a_clean_verdict() {
        let a = layer(&["/tools/bin/a"]);
        let b = layer(&["/tools/npm/bin/b", "/tools/npm/lib/node_modules/b/"]);
        let below = layer(&["/etc/passwd", "/usr/bin/"]);
        let base = layer(&["/etc/passwd"]);
        let v = judge_dirs(
            &request(&["a", "b"]),
            &[a.path(), b.path()],
            below.path(),
            base.path(),
        );
        assert!(v.is_clean(), "{v:?}");
        assert_eq!(v.tools.len(), 2);
    }

    #[test]
    fn every_kind_of_problem_is_found() {
        let a = layer(&["/tools/npm/bin/x", "/etc/evil"]);
        let b = layer(&["/tools/npm/lib/node_modules/@s/x/", "/tools/npm/bin/x"]);
        let c = layer(&["/tools/npm/lib/node_modules/@s/x/"]);
        let below = layer(&["/tools/bin/base-tool", "/tools/bin/mine", "/tools/extra"]);
        let base = layer(&["/tools/bin/base-tool"]);
        let v = judge_dirs(
            &request(&["a", "b", "c"]),
            &[a.path(), b.path(), c.path()],
            below.path(),
            base.path(),
        );
        assert_eq!(v.tools[0].outside, ["/etc"]);
        assert!(v.tools[1].outside.is_empty());
        assert_eq!(v.extension, ["/tools/bin/mine", "/tools/extra"]);
        let paths: Vec<(&str, Vec<String>)> = v
            .collisions
            .iter()
            .map(|c| (c.path.as_str(), c.tools.clone()))
            .collect();
        assert_eq!(
            paths,
            [
                ("/tools/npm/bin/x", vec!["a".to_string(), "b".to_string()]),
                (
                    "/tools/npm/lib/node_modules/@s/x",
                    vec!["b".to_string(), "c".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn facts_of_another_shape_are_refused() {
        let req = request(&["a"]);
        assert!(
            judge(&req, &[], None, None)
                .unwrap_err()
                .contains("1 tools")
        );
        let tool = Facts::default();
        let err = judge(&req, &[tool], None, None).unwrap_err();
        assert!(err.contains("do not list /"), "{err}");
    }

    #[test]
    fn the_image_below_is_listed_only_for_the_checks_that_need_it() {
        let mut r = request(&[]);
        r.parents = false;
        assert!(r.facts_for_below().dirs.is_empty());
        r.extension = false;
        assert!(!r.needs_below());
    }
}
