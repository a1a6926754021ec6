//! The commands of the command line: `check`, `plan`, `diff`, `graph` and `llb`, each on
//! the spec read from disk and converted without an engine (crate::graph::offline).

use super::*;

pub(super) fn read_spec(io: &Io, path: &Path) -> Result<SpecFile, Exit> {
    SpecFile::read(path).map_err(|e| match e {
        offline::ReadError::Io(m) => Exit::usage(m),
        // Bytes that are not text are a problem of the spec, like bad YAML.
        offline::ReadError::NotText(m) => {
            io.error(&m);
            Exit::spec()
        }
    })
}

pub(super) fn options_for(spec: &SpecFile, build: &BuildFlags) -> Result<Options, Exit> {
    offline::options(
        &spec.name,
        &build.platforms,
        &build.build_args,
        build.target.map(Target::name),
    )
    .map_err(Exit::usage)
}

/// Parses, resolves and converts `spec` for each platform, printing its problems.
pub(super) fn convert_or_report(
    io: &Io,
    spec: &SpecFile,
    options: &Options,
) -> Result<Vec<Offline>, Exit> {
    match offline::convert_all(spec, options) {
        Ok(builds) => {
            // The warnings of conversion (AISHELL_MERGE=stack) are the same for every
            // platform; say them once.
            let mut said: Vec<&String> = Vec::new();
            for w in builds.iter().flat_map(|b| &b.conversion.warnings) {
                if !said.contains(&w) {
                    io.warning(w);
                    said.push(w);
                }
            }
            Ok(builds)
        }
        Err(d) => {
            io.diagnostics(&d, &spec.text);
            Err(Exit::spec())
        }
    }
}

/// The notes of all platforms, each once.
pub(super) fn notes(builds: &[Offline]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in builds.iter().flat_map(|b| &b.notes) {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

pub(super) fn one_platform<'a>(builds: &'a [Offline], what: &str) -> Result<&'a Offline, Exit> {
    match builds {
        [one] => Ok(one),
        _ => Err(Exit::usage(format!(
            "{what} shows one platform at a time; give a single --platform (got {})",
            builds
                .iter()
                .map(|b| b.platform.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(super) fn check(io: &Io, path: &Path, build: &BuildFlags) -> Result<(), Exit> {
    let spec = read_spec(io, path)?;
    let options = options_for(&spec, build)?;
    // The one pipeline's errors (every platform) and lint warnings; conversion adds what
    // only the whole graph shows (a target that cannot be built in stack mode).
    let mut diags = match load(&spec, &options.load_options()) {
        Err(d) => d,
        Ok(loaded) => {
            let mut diags = loaded.check_errors();
            for r in &loaded.resolved {
                match offline::convert(&spec, r, &options, false, None) {
                    Ok(o) => {
                        for w in o.conversion.warnings {
                            let d = Diagnostic {
                                span: None,
                                ..Diagnostic::warning(Default::default(), "", w)
                            };
                            merge_unique(&mut diags, single(&spec.name, d));
                        }
                    }
                    Err(d) => merge_unique(&mut diags, d),
                }
            }
            diags.items.extend(loaded.warnings);
            diags
        }
    };
    diags.sort();
    io.diagnostics(&diags, &spec.text);
    if diags.has_errors() {
        return Err(Exit::spec());
    }
    let platforms: Vec<String> = options
        .target_platforms()
        .iter()
        .map(ToString::to_string)
        .collect();
    io.print(&format!("{}: ok for {}\n", spec.name, platforms.join(", ")))?;
    Ok(())
}

pub(super) fn single(file: &str, d: Diagnostic) -> Diagnostics {
    let mut ds = Diagnostics::new(file);
    ds.push(d);
    ds
}

pub(super) fn plan_cmd(
    io: &Io,
    path: &Path,
    build: &BuildFlags,
    no_trunc: bool,
    json: bool,
) -> Result<(), Exit> {
    let spec = read_spec(io, path)?;
    let options = options_for(&spec, build)?;
    let builds = convert_or_report(io, &spec, &options)?;
    if json {
        let all: Vec<_> = builds
            .iter()
            .map(|b| plan::plan_json(b, options.target))
            .collect();
        let text = serde_json::to_string_pretty(&all).unwrap_or_default();
        io.print(&format!("{text}\n"))?;
        for n in notes(&builds) {
            io.note(&n);
        }
        return Ok(());
    }
    let tables: Vec<String> = builds
        .iter()
        .map(|b| plan::render_plan(&spec.name, b, options.target, no_trunc, io.out))
        .collect();
    let mut text = tables.join("\n");
    // The note is part of what plan says (digests are offline ones), so it goes with the
    // table on stdout.
    for n in notes(&builds) {
        text.push_str(&format!("\n{}\n", note_line(io.out, &n)));
    }
    io.print(&text)?;
    Ok(())
}

pub(super) fn diff_cmd(io: &Io, old: &Path, new: &Path, build: &BuildFlags) -> Result<(), Exit> {
    let (old_spec, new_spec) = (read_spec(io, old)?, read_spec(io, new)?);
    let old_options = options_for(&old_spec, build)?;
    let new_options = options_for(&new_spec, build)?;
    // Both sides are reported before giving up, so one run shows every problem.
    let old_builds = convert_or_report(io, &old_spec, &old_options);
    let new_builds = convert_or_report(io, &new_spec, &new_options);
    let (old_builds, new_builds) = (old_builds?, new_builds?);
    let target = new_options.target;
    let mut text = String::new();
    for (a, b) in old_builds.iter().zip(&new_builds) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "{}\n",
            io.out.paint(
                "1",
                &format!(
                    "{} → {} ({}, target {})",
                    old_spec.name,
                    new_spec.name,
                    b.platform,
                    target.name()
                )
            )
        ));
        text.push_str(&plan::render_diff(&plan::compare(a, b, target), io.out));
    }
    let mut all = notes(&old_builds);
    for n in notes(&new_builds) {
        if !all.contains(&n) {
            all.push(n);
        }
    }
    if !all.is_empty() {
        text.push('\n');
    }
    for n in all {
        text.push_str(&format!("{}\n", note_line(io.out, &n)));
    }
    io.print(&text)?;
    Ok(())
}

pub(super) fn graph_cmd(
    io: &Io,
    path: &Path,
    build: &BuildFlags,
    format: Format,
) -> Result<(), Exit> {
    let spec = read_spec(io, path)?;
    let options = options_for(&spec, build)?;
    let builds = convert_or_report(io, &spec, &options)?;
    let b = one_platform(&builds, "graph")?;
    let def = llb_graph::marshal(&b.conversion.state, &[]);
    let g = Graph::from_definition(&def, &b.conversion.names);
    let text = match format {
        Format::Dot => dump::to_dot(&g),
        Format::Mermaid => dump::to_mermaid(&g),
        Format::Svg => svg(&dump::to_dot(&g))?,
    };
    for n in notes(&builds) {
        io.note(&n);
    }
    io.print(&text)?;
    Ok(())
}

/// Draws `dot` text as SVG with Graphviz.
pub(super) fn svg(dot: &str) -> Result<String, Exit> {
    use std::process::{Command as Process, Stdio};
    let child = Process::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Exit::usage(
                "--format svg needs Graphviz's `dot` on PATH (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz); or use --format dot or --format mermaid and draw it elsewhere",
            ));
        }
        Err(e) => return Err(Exit::usage(format!("cannot run Graphviz's `dot`: {e}"))),
    };
    // Write on another thread: dot may fill its stdout pipe before it has read all input.
    let input = dot.to_string();
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let out = child
        .wait_with_output()
        .map_err(|e| Exit::usage(format!("Graphviz's `dot` failed: {e}")))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(Exit::usage(format!(
            "Graphviz's `dot` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| Exit::usage("Graphviz's `dot` wrote no text"))
}

pub(super) fn llb_cmd(io: &Io, path: &Path, build: &BuildFlags, json: bool) -> Result<(), Exit> {
    let spec = read_spec(io, path)?;
    let options = options_for(&spec, build)?;
    let builds = convert_or_report(io, &spec, &options)?;
    let b = one_platform(&builds, "llb")?;
    if !json && std::io::stdout().is_terminal() {
        return Err(Exit::usage(
            "the definition is binary; pipe it into `buildctl build`, redirect it to a file, or use --json",
        ));
    }
    let def = llb_graph::marshal(&b.conversion.state, &[offline::source_file(&spec)]);
    for n in notes(&builds) {
        io.note(&n);
    }
    if json {
        let text =
            serde_json::to_string_pretty(&llb_graph::definition_to_json(&def)).unwrap_or_default();
        io.print(&format!("{text}\n"))
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(&llb_graph::encode_definition(&def))?;
        out.flush()?;
        Ok(())
    }
}
