//! The one way from a spec file to what every caller needs: the build, each subrequest
//! (`--call outline|targets|check`) and the command line (`check`, `plan`, `diff`, `graph`)
//! all call [`load`], so they agree on what a spec means and on what is wrong with it.
//!
//! # Error policy
//!
//! * Parsing stops at the structure: a spec whose shape is wrong is reported with every
//!   structural error and the value checks that need no argument ([`load`] returns `Err`).
//! * Otherwise the spec is resolved for **every** target platform, and the image references
//!   of each resolution are checked. Their errors are collected, each distinct one once
//!   (most problems are the same on every platform), sorted by position, in
//!   [`Loaded::errors`]. A caller that builds or describes the spec stops when there is any.
//! * The lint checks run on the parsed spec and the first platform's resolution (when it
//!   resolved); the rules that the check directive (`# check=skip=…` or the build argument
//!   `BUILDKIT_DOCKERFILE_CHECK`) switches off are dropped ([`Loaded::warnings`]).
//! * A check directive that cannot be read is an error where the checks run (the build,
//!   `--call check`, `check`): [`Loaded::check_errors`]. `--call outline|targets` run no
//!   checks and ignore it.

use super::diag::{Diagnostic, Diagnostics};
use super::lint::{self, CHECK_ARG, CheckDirective};
use super::platform::Platform;
use super::source::SpecFile;
use super::{BuildArgs, ResolvedSpec, Spec, parse_spec, referenced_images, resolve};

/// What [`load`] needs of the build's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// `--build-arg` values.
    pub build_args: BuildArgs,
    /// The target platforms, in the order the build makes them (at least one).
    pub platforms: Vec<Platform>,
    /// The build machine's platform (`BUILDPLATFORM`).
    pub build_platform: Platform,
}

/// A parsed spec, its resolution for every platform, and what is wrong with it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The spec as written.
    pub parsed: Spec,
    /// One resolution per target platform, in the order of [`LoadOptions::platforms`];
    /// empty when any platform failed to resolve (then [`Loaded::errors`] says why).
    pub resolved: Vec<ResolvedSpec>,
    /// Errors of resolution and image references, every platform's, each once, sorted.
    pub errors: Diagnostics,
    /// The first target platform's resolution when it resolved, even if another platform
    /// did not: the lint checks read it, and `--call outline` shows its argument values.
    pub first: Option<ResolvedSpec>,
    /// Lint warnings not switched off by the check directive, in the order of the rules.
    pub warnings: Vec<Diagnostic>,
    /// The check directive in force.
    pub directive: CheckDirective,
}

impl Loaded {
    /// True when the spec can be built: no error on any platform.
    pub fn is_valid(&self) -> bool {
        !self.errors.has_errors()
    }

    /// [`Loaded::errors`] plus an unreadable check directive, for the callers that run
    /// the checks.
    pub fn check_errors(&self) -> Diagnostics {
        let mut all = self.errors.clone();
        if let Some(message) = &self.directive.invalid {
            all.push(directive_error(&self.directive, message));
            all.sort();
        }
        all
    }
}

/// The error of an unreadable or violated check directive, at the directive's line when it
/// is in the spec, or naming the build argument that set it.
pub fn directive_error(directive: &CheckDirective, message: &str) -> Diagnostic {
    match directive.span {
        Some(span) => Diagnostic::error(span, "", message),
        None => Diagnostic {
            span: None,
            ..Diagnostic::error(Default::default(), "", format!("{message} ({CHECK_ARG})"))
        },
    }
}

/// Parses `file`, resolves it for every platform of `options`, checks its image references,
/// and runs the lint checks, under the policy of this module.
///
/// ```
/// use aishell_frontend::spec::load::{LoadOptions, load};
/// use aishell_frontend::spec::{SpecFile, platform::Platform};
/// let file = SpecFile::from_text("image.yaml", "version: 1\nfoundation:\n  from: busybox:1\n");
/// let options = LoadOptions {
///     build_args: Default::default(),
///     platforms: vec![Platform::linux_amd64(), Platform::parse("linux/arm64").unwrap()],
///     build_platform: Platform::linux_amd64(),
/// };
/// let loaded = load(&file, &options).unwrap();
/// assert!(loaded.is_valid());
/// assert_eq!(loaded.resolved.len(), 2);
/// // `busybox:1` is not pinned by digest: a lint warning, not an error.
/// assert!(loaded.warnings.iter().any(|w| w.rule == Some("FoundationNotPinned")));
/// ```
///
/// Errors: the structural problems of a spec that cannot be parsed.
pub fn load(file: &SpecFile, options: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let parsed = parse_spec(&file.name, &file.text)?;
    let mut errors = Diagnostics::new(&file.name);
    let mut resolved = Vec::new();
    let mut first = None;
    for (index, platform) in options.platforms.iter().enumerate() {
        let one = resolve(
            &parsed,
            &file.name,
            &options.build_args,
            platform,
            &options.build_platform,
        )
        .and_then(|r| referenced_images(&r).map(|_| r));
        match one {
            Ok(r) => {
                if index == 0 {
                    first = Some(r.clone());
                }
                resolved.push(r);
            }
            Err(d) => merge_unique(&mut errors, d),
        }
    }
    if errors.has_errors() {
        resolved.clear();
    }
    errors.sort();
    let directive = CheckDirective::for_build(&file.text, &options.build_args);
    let warnings: Vec<Diagnostic> = lint::lint(&parsed, first.as_ref())
        .into_iter()
        .filter(|d| !directive.skips(d))
        .collect();
    Ok(Loaded {
        parsed,
        resolved,
        first,
        errors,
        warnings,
        directive,
    })
}

/// Appends the diagnostics of `more` that `into` does not have yet: most problems are the
/// same on every platform and are worth reading once.
pub fn merge_unique(into: &mut Diagnostics, more: Diagnostics) {
    for d in more.items {
        if !into.items.contains(&d) {
            into.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platforms() -> Vec<Platform> {
        vec![
            Platform::linux_amd64(),
            Platform::parse("linux/arm64").unwrap(),
        ]
    }

    fn load_text(text: &str, args: &BuildArgs) -> Result<Loaded, Diagnostics> {
        load(
            &SpecFile::from_text("s.yaml", text),
            &LoadOptions {
                build_args: args.clone(),
                platforms: platforms(),
                build_platform: Platform::linux_amd64(),
            },
        )
    }

    #[test]
    fn a_structural_error_is_the_only_answer() {
        let d = load_text("version: 1\nfoundation:\n  form: x\n", &BuildArgs::new()).unwrap_err();
        assert!(d.has_errors());
        assert!(d.to_string().contains("form"), "{d}");
    }

    #[test]
    fn errors_of_every_platform_are_collected_each_once() {
        // The binary tool has no URL for arm64: an error of that platform only. The unknown
        // argument fails on both platforms alike and is reported once.
        let text = "version: 1\nfoundation:\n  from: busybox:1\n  env:\n    A: ${NOPE}\nharness:\n  binaries:\n    tool:\n      url: {linux/amd64: https://example.invalid/t.tar.gz}\n      sha256: {linux/amd64: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n";
        let loaded = load_text(text, &BuildArgs::new()).unwrap();
        assert!(!loaded.is_valid());
        assert!(loaded.resolved.is_empty());
        let messages: Vec<&str> = loaded.errors.errors().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages.iter().filter(|m| m.contains("NOPE")).count(),
            1,
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("linux/arm64")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_valid_spec_resolves_once_per_platform_in_order() {
        let loaded = load_text(
            "version: 1\nfoundation:\n  from: busybox:1\n",
            &BuildArgs::new(),
        )
        .unwrap();
        assert!(loaded.is_valid());
        let got: Vec<String> = loaded
            .resolved
            .iter()
            .map(|r| r.platform.to_string())
            .collect();
        assert_eq!(got, ["linux/amd64", "linux/arm64"]);
    }

    #[test]
    fn the_directive_drops_skipped_rules_and_an_unreadable_one_is_a_check_error() {
        let text = "# check=skip=FoundationNotPinned\nversion: 1\nfoundation:\n  from: busybox:1\n";
        let loaded = load_text(text, &BuildArgs::new()).unwrap();
        assert!(
            !loaded
                .warnings
                .iter()
                .any(|w| w.rule == Some("FoundationNotPinned"))
        );
        assert!(!loaded.check_errors().has_errors());

        let args = BuildArgs::from([(CHECK_ARG.to_string(), "error=sometimes".to_string())]);
        let loaded = load_text("version: 1\nfoundation:\n  from: busybox:1\n", &args).unwrap();
        assert!(loaded.is_valid(), "the directive is not a spec error");
        let errors = loaded.check_errors();
        let e = errors.errors().next().expect("an error for the directive");
        assert!(e.message.contains(CHECK_ARG), "{}", e.message);
        assert_eq!(e.span, None);
    }
}
