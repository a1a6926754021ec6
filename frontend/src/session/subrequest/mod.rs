//! Subrequests: `docker buildx build --call outline|targets|check` and
//! `frontend.subrequests.describe`.
//!
//! buildx sends `requestid=frontend.<name>` (`check` becomes `frontend.lint`). The answer is
//! a result without refs whose metadata carries `result.json` (BuildKit's JSON formats, in
//! Go's encoding: byte arrays as base64, zero values left out), `result.txt` (text for
//! clients that cannot read the JSON) and `version`; for the check also
//! `result.statuscode`, which buildx turns into its exit status. Nothing is built: outline,
//! targets and check read the spec file and nothing else, describe not even that.
//!
//! An unknown request is answered with gRPC code 12 and an `errdefs.Subrequest` detail, so
//! clients know it is unsupported rather than failed.
//!
//! The JSON bodies are the types of [`answers`], which mirror BuildKit's Go types.

pub mod answers;

use crate::graph::options::Options;
use crate::graph::targets::{Base, Target};
use crate::session::failure::Failure;
use crate::session::gateway::Bridge;
use crate::session::source::SpecLocal;
use crate::spec::diag::Diagnostic;
use crate::spec::lint;
use crate::spec::load::{Loaded, load};
use crate::spec::yaml::{self, Span};
use crate::spec::{self, Spec, SpecFile};
use aishell_proto::gateway as gw;
use answers::{
    Arg, Base64, BuildError, LintResults, Location, Named, Outline, Request, RequestType, Secret,
    SourceInfo, TargetInfo, TargetList, Warning,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tonic::Code;

/// Lists the subrequests this frontend answers.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// Build arguments and secrets of a target (`--call outline`).
pub const OUTLINE: &str = "frontend.outline";
/// The targets of the spec (`--call targets`).
pub const TARGETS: &str = "frontend.targets";
/// Warnings and errors of the spec (`--call check`).
pub const LINT: &str = "frontend.lint";

/// Version of every request's format; the same as BuildKit's, whose formats we produce.
/// buildx prints `result.txt` instead of parsing `result.json` only when this is newer
/// than what it knows.
pub const VERSION: &str = "1.0.0";

/// Answers the subrequest `name`: reads the spec when the request needs it (and stores it
/// in `spec_out`, so a failure can show an excerpt), never solves anything else.
///
/// Errors: an unknown request (code 12 with an `errdefs.Subrequest` detail); a spec that
/// cannot be read; for outline and targets, a spec that does not parse. The check reports
/// spec errors inside its result instead.
pub async fn answer<B: Bridge>(
    b: &B,
    opts: &Options,
    name: &str,
    spec_out: &mut Option<SpecLocal>,
) -> Result<gw::Result, Failure> {
    if name == DESCRIBE {
        return Ok(describe());
    }
    if ![OUTLINE, TARGETS, LINT].contains(&name) {
        return Err(unsupported(name));
    }
    let file = crate::session::source::read_spec(b, opts).await?;
    *spec_out = Some(file.clone());
    crate::session::failure::guarded(|| match name {
        OUTLINE => outline(&file, opts),
        TARGETS => targets(&file, opts),
        _ => Ok(check(&file, opts)),
    })
}

/// The failure for a request this frontend does not know.
pub fn unsupported(name: &str) -> Failure {
    let mut f = Failure::new(
        Code::Unimplemented,
        format!(
            "aishell-frontend does not support the subrequest {name}; supported: {}",
            [DESCRIBE, OUTLINE, TARGETS, LINT].join(", ")
        ),
    );
    f.subrequest = Some(name.to_string());
    f
}

/// `frontend.subrequests.describe`: every request we answer.
pub fn describe() -> gw::Result {
    let named = |name: &str, description: &str| Named {
        name: name.into(),
        description: description.into(),
    };
    let request = |name: &str, description: &str, opts: Vec<Named>, meta: &[&str]| Request {
        name: name.into(),
        version: VERSION.into(),
        kind: RequestType::Rpc,
        description: description.into(),
        opts,
        inputs: Vec::new(),
        metadata: meta.iter().map(|m| named(m, "")).collect(),
        refs: Vec::new(),
    };
    let all = vec![
        request(
            OUTLINE,
            "Build arguments and secrets the selected target uses",
            vec![named("target", "The target to describe (default: image)")],
            &["result.json", "result.txt"],
        ),
        request(
            TARGETS,
            "Targets of the spec",
            vec![],
            &["result.json", "result.txt"],
        ),
        request(
            LINT,
            "Check the spec for likely mistakes (docs/checks.md)",
            vec![],
            &["result.json", "result.txt", "result.statuscode"],
        ),
        request(
            DESCRIBE,
            "Subrequests this frontend answers",
            vec![],
            &["result.json", "result.txt"],
        ),
    ];
    let rows: Vec<Vec<String>> = std::iter::once(vec![
        "NAME".to_string(),
        "VERSION".into(),
        "DESCRIPTION".into(),
    ])
    .chain(all.iter().map(|r| {
        vec![
            r.name.trim_start_matches("frontend.").to_string(),
            r.version.clone(),
            r.description.clone(),
        ]
    }))
    .collect();
    answer_with(&all, table(&rows, 1), None)
}

/// `frontend.outline`: the declared arguments the target uses (value, description taken
/// from the comment above or after the argument, location) and the npm secret.
///
/// Errors: a spec that is not UTF-8 or does not parse.
pub fn outline(file: &SpecLocal, opts: &Options) -> Result<gw::Result, Failure> {
    let (source, loaded) = load_spec(file, opts)?;
    let (text, spec) = (&source.text, &loaded.parsed);
    let target = opts.target;
    let used = lint::args_in_use(&scoped(spec, target));
    // Values as the build would see them: defaults expanded, `--build-arg` applied. A
    // spec that does not resolve still gets an outline, with the values as written.
    let values = loaded.first.map(|r| r.args).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut seen = BTreeSet::new();
    let mut args = Vec::new();
    let mut rows = vec![vec![
        "BUILD ARG".to_string(),
        "VALUE".into(),
        "DESCRIPTION".into(),
    ]];
    for a in &spec.args {
        let name = &a.name.value;
        if !used.contains(name) || !seen.insert(name.clone()) {
            continue;
        }
        let value = values
            .get(name)
            .or_else(|| opts.build_args.get(name))
            .unwrap_or(&a.default.value)
            .clone();
        let description = arg_comment(&lines, a);
        rows.push(vec![name.clone(), value.clone(), description.clone()]);
        args.push(Arg {
            name: name.clone(),
            description,
            value,
            location: Some(Location::of_span(Span {
                start: a.name.span.start,
                end: a.default.span.end.max(a.name.span.end),
            })),
        });
    }
    let mut secrets = Vec::new();
    if let Some(s) = &spec.harness.npm_secret
        && target.def().holds.tools
    {
        secrets.push(Secret {
            name: s.value.clone(),
            // The secret is mounted (and must exist) only while npm tools are installed.
            required: !spec.harness.npm.is_empty(),
            location: Some(Location::of_span(s.span)),
        });
    }

    let description = target.describe(spec);
    let mut txt = table(
        &[
            vec!["TARGET:".into(), target.name().into()],
            vec!["DESCRIPTION:".into(), description.clone()],
        ],
        1,
    );
    txt.push('\n');
    if rows.len() > 1 {
        txt.push_str(&table(&rows, 3));
        txt.push('\n');
    }
    if !secrets.is_empty() {
        let mut rows = vec![vec!["SECRET".to_string(), "REQUIRED".into()]];
        for s in &secrets {
            let req = if s.required { "true" } else { "" };
            rows.push(vec![s.name.clone(), req.to_string()]);
        }
        txt.push_str(&table(&rows, 3));
        txt.push('\n');
    }
    let out = Outline {
        name: target.name().into(),
        description,
        args,
        secrets,
        sources: vec![Base64(file.data.clone())],
        ..Outline::default()
    };
    Ok(answer_with(&out, txt, None))
}

/// `frontend.targets`: foundation, extension, harness and image (the default).
///
/// Errors: a spec that is not UTF-8 or does not parse.
pub fn targets(file: &SpecLocal, opts: &Options) -> Result<gw::Result, Failure> {
    let (source, loaded) = load_spec(file, opts)?;
    let (text, spec) = (&source.text, &loaded.parsed);
    let keys = top_level_keys(text);
    let mut list = Vec::new();
    let mut rows = vec![vec!["TARGET".to_string(), "DESCRIPTION".into()]];
    for t in Target::ALL {
        let description = t.describe(spec);
        let label = if t.is_default() {
            format!("{} (default)", t.name())
        } else {
            t.name().to_string()
        };
        rows.push(vec![label, description.clone()]);
        let base = match t.def().base {
            Base::SpecImage => spec.foundation.from.value.clone(),
            Base::Target(b) => b.name().into(),
            Base::Scratch => String::new(),
        };
        // Each target points at its section (named as the target); the default target has
        // none when `image:` is left out, and then points at the foundation.
        let key = keys
            .get(t.name())
            .or_else(|| t.is_default().then(|| keys.get("foundation")).flatten());
        list.push(TargetInfo {
            name: t.name().into(),
            default: t.is_default(),
            description,
            base,
            location: key.map(|span| Location::of_span(*span)),
            ..TargetInfo::default()
        });
    }
    let out = TargetList {
        targets: list,
        sources: vec![Base64(file.data.clone())],
    };
    Ok(answer_with(&out, table(&rows, 1), None))
}

/// `frontend.lint` (`--call check`): every warning of [`lint::lint`] not skipped by a
/// `# check=skip=` directive, and the spec's errors as the build error. Never fails:
/// even a spec that cannot be read as text gets an answer with status 1.
pub fn check(file: &SpecLocal, opts: &Options) -> gw::Result {
    let mut warnings: Vec<Diagnostic> = Vec::new();
    let mut error: Option<(String, Option<Span>)> = None;
    match load_spec(file, opts) {
        Err(f) => error = Some(failure_error(&f)),
        Ok((_, loaded)) => {
            let errors = loaded.check_errors();
            if errors.has_errors() {
                error = Some(failure_error(&Failure::diags(errors)));
            }
            warnings = loaded.warnings;
        }
    }

    let list = warnings
        .iter()
        .map(|d| {
            let rule = d.rule.unwrap_or("Unknown");
            Warning {
                rule_name: rule.to_string(),
                description: lint::rule(rule).map_or("", |r| r.description).to_string(),
                url: lint::url(rule),
                detail: detail(d),
                // buildx reads the location of every warning, so each one has one.
                location: Some(Location::of_span(d.span.unwrap_or_default())),
            }
        })
        .collect();
    let out = LintResults {
        warnings: list,
        sources: vec![SourceInfo {
            filename: file.filename.clone(),
            data: Base64(file.data.clone()),
            language: "yaml".into(),
        }],
        // Without a span the location has no ranges, and clients print the message alone.
        build_error: error.as_ref().map(|(message, span)| BuildError {
            message: message.clone(),
            location: span.map(Location::of_span).unwrap_or_default(),
        }),
    };

    let txt = check_text(file, &warnings, error.as_ref());
    let status = if warnings.is_empty() && error.is_none() {
        "0"
    } else {
        "1"
    };
    answer_with(&out, txt, Some(status))
}

/// The text of a check result: a summary line, each warning with its excerpt, the error.
fn check_text(
    file: &SpecLocal,
    warnings: &[Diagnostic],
    error: Option<&(String, Option<Span>)>,
) -> String {
    let data = String::from_utf8_lossy(&file.data);
    let lines: Vec<&str> = data.lines().collect();
    let mut txt = match warnings.len() {
        0 if error.is_none() => "Check complete, no warnings found.\n".to_string(),
        0 => String::new(),
        1 => "Check complete, 1 warning has been found!\n".to_string(),
        n => format!("Check complete, {n} warnings have been found!\n"),
    };
    for d in warnings {
        let rule = d.rule.unwrap_or("Unknown");
        txt.push_str(&format!(
            "\nWARNING: {rule} - {}\n{}\n",
            lint::url(rule),
            detail(d)
        ));
        if let Some(span) = d.span {
            txt.push_str(&excerpt(&file.filename, &lines, span));
        }
    }
    if let Some((message, span)) = error {
        if !warnings.is_empty() {
            txt.push('\n');
        }
        txt.push_str(&format!("ERROR: {message}\n"));
        if let Some(span) = span {
            txt.push_str(&excerpt(&file.filename, &lines, *span));
        }
    }
    txt
}

/// What a warning says, key path first so it reads on its own.
fn detail(d: &Diagnostic) -> String {
    if d.path.is_empty() {
        d.message.clone()
    } else {
        format!("{}: {}", d.path, d.message)
    }
}

/// The message and first position of a failure, for `buildError`.
fn failure_error(f: &Failure) -> (String, Option<Span>) {
    (f.message(), f.span())
}

/// The spec through the one pipeline ([`crate::spec::load`]).
///
/// Errors: a spec that is not UTF-8 or does not parse.
fn load_spec(file: &SpecLocal, opts: &Options) -> Result<(SpecFile, Loaded), Failure> {
    let source = file.spec_file()?;
    let loaded = load(&source, &opts.load_options()).map_err(Failure::diags)?;
    Ok((source, loaded))
}

/// The parts of `spec` that make up `target`'s result, everything else emptied, so the
/// arguments it uses are the ones that matter for that target.
fn scoped(spec: &Spec, target: Target) -> Spec {
    let mut s = spec.clone();
    let holds = target.def().holds;
    // npm tools are installed on the foundation; binaries need nothing but their URL.
    let keep_foundation = holds.system || (holds.tools && !s.harness.npm.is_empty());
    let keep_extension = holds.extension;
    let keep_harness = holds.tools;
    if !keep_foundation {
        s.foundation.from.value.clear();
        s.foundation.steps = Default::default();
    }
    if !keep_extension {
        s.extension = None;
    }
    if !keep_harness {
        s.harness.prefix.value.clear();
        s.harness.npm.clear();
        s.harness.binaries.clear();
        s.harness.env.clear();
        s.harness.npm_secret = None;
    }
    if !holds.image_section {
        s.image = Default::default();
    }
    s
}

/// The comment that documents an argument: the comment lines right above it, else a
/// comment after its value on the same line.
fn arg_comment(lines: &[&str], a: &spec::ArgDecl) -> String {
    let line = a.name.span.start.line as usize;
    let Some(own) = lines.get(line.wrapping_sub(1)) else {
        return String::new();
    };
    // Above-comments belong to the argument only in block style (`  NAME: value` on its
    // own line); in a flow mapping `args: {A: 1}` they describe the whole mapping.
    let starts_line =
        own.chars().take_while(|c| c.is_whitespace()).count() + 1 == a.name.span.start.col as usize;
    let mut above = Vec::new();
    if starts_line {
        let mut i = line.saturating_sub(1);
        while i > 0 {
            let Some(c) = lines[i - 1].trim_start().strip_prefix('#') else {
                break;
            };
            above.push(c.trim());
            i -= 1;
        }
    }
    if !above.is_empty() {
        above.reverse();
        return above.join(" ");
    }
    let end = a.default.span.end;
    if end.line as usize == line {
        let rest: String = own
            .chars()
            .skip(end.col.saturating_sub(1) as usize)
            .collect();
        // A closing quote of the value may still precede the comment.
        let rest = rest.trim_start_matches(['"', '\'']).trim_start();
        if let Some(c) = rest.strip_prefix('#') {
            return c.trim().to_string();
        }
    }
    String::new()
}

/// Spans of the top-level keys (`foundation:`, `image:`, …).
fn top_level_keys(text: &str) -> BTreeMap<String, Span> {
    let mut out = BTreeMap::new();
    if let Ok(root) = yaml::parse(text)
        && let yaml::Value::Map(entries) = &root.value
    {
        for (k, _) in entries {
            if let Some(name) = k.as_str() {
                out.entry(name.to_string()).or_insert(k.span);
            }
        }
    }
    out
}

/// Lines around `span`, the span's own lines marked, in the layout BuildKit's clients use
/// for source excerpts.
fn excerpt(filename: &str, lines: &[&str], span: Span) -> String {
    let start = span.start.line.max(1) as usize;
    if start > lines.len() {
        return String::new();
    }
    let last = if span.end.line as usize > start && span.end.col <= 1 {
        span.end.line as usize - 1
    } else {
        (span.end.line as usize).max(start)
    }
    .min(lines.len());
    let from = start.saturating_sub(2).max(1);
    let to = (last + 2).min(lines.len());
    let mut out = format!("{filename}:{start}\n--------------------\n");
    for (i, l) in lines.iter().enumerate().take(to).skip(from - 1) {
        let n = i + 1;
        let mark = if (start..=last).contains(&n) {
            ">>>"
        } else {
            "   "
        };
        out.push_str(&format!(" {n:>3} | {mark} {l}\n"));
    }
    out.push_str("--------------------\n");
    out
}

/// Columns aligned as BuildKit aligns them (Go's tabwriter): every column but the last
/// padded to its widest cell plus `pad` spaces; lines end without trailing spaces.
fn table(rows: &[Vec<String>], pad: usize) -> String {
    use std::io::Write as _;
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(0)
        .padding(pad);
    for r in rows {
        // Tabs and newlines inside a cell would start another cell or row.
        let cells: Vec<String> = r.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
        // Writing to a Vec cannot fail.
        let _ = writeln!(tw, "{}", cells.join("\t"));
    }
    let bytes = tw.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

/// The result: no ref (the oneof stays unset), only metadata. `json` is written indented by
/// two spaces, as Go's `json.MarshalIndent` writes BuildKit's own answers.
fn answer_with<T: Serialize>(json: &T, txt: String, status: Option<&str>) -> gw::Result {
    let mut metadata = BTreeMap::new();
    // The answer types hold strings, numbers and lists only: writing them cannot fail.
    metadata.insert(
        "result.json".to_string(),
        serde_json::to_vec_pretty(json).unwrap_or_default(),
    );
    metadata.insert("result.txt".to_string(), txt.into_bytes());
    metadata.insert("version".to_string(), VERSION.as_bytes().to_vec());
    if let Some(s) = status {
        metadata.insert("result.statuscode".to_string(), s.as_bytes().to_vec());
    }
    gw::Result {
        metadata,
        result: None,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::spec::yaml::Pos;

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let rows = vec![
            vec!["TARGET".to_string(), "DESCRIPTION".into()],
            vec!["image (default)".into(), "all".into()],
        ];
        assert_eq!(
            table(&rows, 1),
            "TARGET          DESCRIPTION\nimage (default) all\n"
        );
        // An empty cell is as wide as the padding; wide characters count once.
        let rows = vec![
            vec!["A".to_string(), String::new(), "x".into()],
            vec!["é".into(), "BB".into(), String::new()],
        ];
        assert_eq!(table(&rows, 2), "A      x\né  BB\n");
    }

    #[test]
    fn argument_comments() {
        let text = "version: 1\nargs:\n  # The codex release\n  # (exact).\n  CODEX: \"0.1.0\"\n  PLAIN: x   # trailing words\n  NONE: y\nfoundation:\n  from: a\n";
        let spec = spec::parse_spec("f", text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let got: Vec<String> = spec.args.iter().map(|a| arg_comment(&lines, a)).collect();
        assert_eq!(
            got,
            vec!["The codex release (exact).", "trailing words", ""]
        );
    }

    #[test]
    fn excerpts_mark_the_span() {
        let lines = vec!["a", "b", "c", "d", "e", "f"];
        let span = Span {
            start: Pos::new(3, 1),
            end: Pos::new(3, 2),
        };
        assert_eq!(
            excerpt("f.yaml", &lines, span),
            "f.yaml:3\n--------------------\n   1 |     a\n   2 |     b\n   3 | >>> c\n   4 |     d\n   5 |     e\n--------------------\n"
        );
    }
}
