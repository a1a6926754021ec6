//! What a part holds, read inside a build step: the OS package databases of a root file
//! system, or the npm packages of a harness tool's layer.
//!
//! The frontend's own binary runs this over the part mounted read-only (see
//! [`super::graph`]), so BuildKit caches the small result keyed by the part: a part that
//! did not change is neither pulled nor read again for the next SBOM.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

/// The file an inventory step writes in its output (see `session::sbom::graph`).
pub const INVENTORY_FILE: &str = "inventory.json";

/// At most this many npm packages are read from one layer (a runaway tree stays a small
/// file; the SBOM says when it was cut).
pub const MAX_NPM_PACKAGES: usize = 20_000;

/// What to read from the mounted part.
///
/// ```
/// use aishell_frontend::sbom::scan::ScanRequest;
/// let r = ScanRequest::Npm { dir: "/tools/npm/lib/node_modules".into() };
/// assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"npm":{"dir":"/tools/npm/lib/node_modules"}}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum ScanRequest {
    /// The dpkg and apk databases and the os-release file of a root file system.
    System,
    /// The npm packages under `dir`, a global `node_modules` folder.
    Npm {
        /// Absolute path of the folder inside the part.
        dir: String,
    },
}

/// Which package manager a package belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Debian's dpkg.
    Deb,
    /// Alpine's apk.
    Apk,
    /// npm.
    Npm,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Its package manager.
    pub ecosystem: Ecosystem,
    /// Name (`bash`, `@openai/codex`).
    pub name: String,
    /// Version as the package manager writes it.
    pub version: String,
    /// Architecture (dpkg, apk), empty when not recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// Declared license, empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    /// npm: the package's folder relative to the scanned `node_modules`
    /// (`a/node_modules/b`); empty for OS packages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// npm: the folders (as [`Package::path`]) of the packages it depends on, resolved the
    /// way node resolves them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
}

/// The distribution a root file system says it is (`/etc/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsRelease {
    /// `ID` (`debian`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`13`, `3.20.3`).
    pub version_id: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The distribution, for a system scan that found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    /// The packages, sorted.
    pub packages: Vec<Package>,
    /// True when [`MAX_NPM_PACKAGES`] cut the list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Inventory {
    /// The packages of the npm tree whose top folder is `top` (a global install keeps
    /// each tool's dependencies inside its own folder).
    pub fn subtree(&self, top: &str) -> Vec<&Package> {
        let nested = format!("{top}/node_modules/");
        self.packages
            .iter()
            .filter(|p| {
                p.ecosystem == Ecosystem::Npm && (p.path == top || p.path.starts_with(&nested))
            })
            .collect()
    }
}

/// Scans the part mounted at `root`.
///
/// Errors: a database or folder that exists but cannot be read. Missing databases are
/// not errors: a part without them has no packages of that kind.
pub fn scan(root: &Path, req: &ScanRequest) -> io::Result<Inventory> {
    match req {
        ScanRequest::System => {
            let mut inv = Inventory {
                os: read_optional(root, &["etc/os-release", "usr/lib/os-release"])?
                    .map(|t| os_release(&t)),
                ..Default::default()
            };
            if let Some(t) = read_optional(root, &["var/lib/dpkg/status"])? {
                inv.packages.extend(dpkg(&t));
            }
            if let Some(t) = read_optional(root, &["lib/apk/db/installed"])? {
                inv.packages.extend(apk(&t));
            }
            inv.packages
                .sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
            Ok(inv)
        }
        ScanRequest::Npm { dir } => {
            let base = root.join(dir.trim_start_matches('/'));
            let mut inv = Inventory::default();
            if base.is_dir() {
                let (packages, truncated) = npm(&base)?;
                inv.packages = packages;
                inv.truncated = truncated;
            }
            Ok(inv)
        }
    }
}

/// The first of `rels` under `root` that exists, as text. A symlink that points outside
/// the part (an absolute target) is followed inside it.
fn read_optional(root: &Path, rels: &[&str]) -> io::Result<Option<String>> {
    for rel in rels {
        let mut path = root.join(rel);
        for _ in 0..8 {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = std::fs::read_link(&path)?;
                    path = if target.is_absolute() {
                        root.join(target.strip_prefix("/").unwrap_or(&target))
                    } else {
                        path.parent().unwrap_or(root).join(target)
                    };
                }
                _ => break,
            }
        }
        match std::fs::read(&path) {
            Ok(bytes) => return Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{rel}: {e}"))),
        }
    }
    Ok(None)
}

/// `KEY=value` lines, values optionally quoted.
pub fn os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k {
            "ID" => os.id = v,
            "VERSION_ID" => os.version_id = v,
            _ => {}
        }
    }
    os
}

/// Paragraphs of `Field: value` lines; continuation lines (starting with a space) belong
/// to the field above and are skipped.
fn paragraphs(text: &str, sep: char) -> Vec<BTreeMap<&str, &str>> {
    let mut out = Vec::new();
    let mut cur = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if !line.starts_with([' ', '\t'])
            && let Some((k, v)) = line.split_once(sep)
        {
            cur.insert(k, v.trim());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// dpkg's status database: the packages whose status ends in `installed`.
pub fn dpkg(text: &str) -> Vec<Package> {
    paragraphs(text, ':')
        .into_iter()
        .filter(|p| p.get("Status").is_some_and(|s| s.ends_with(" installed")))
        .filter_map(|p| {
            Some(Package {
                ecosystem: Ecosystem::Deb,
                name: p.get("Package")?.to_string(),
                version: p.get("Version")?.to_string(),
                arch: p.get("Architecture").unwrap_or(&"").to_string(),
                license: String::new(),
                path: String::new(),
                depends: Vec::new(),
            })
        })
        .collect()
}

/// apk's installed database (`P:` name, `V:` version, `A:` arch, `L:` license).
pub fn apk(text: &str) -> Vec<Package> {
    paragraphs(text, ':')
        .into_iter()
        .filter_map(|p| {
            Some(Package {
                ecosystem: Ecosystem::Apk,
                name: p.get("P")?.to_string(),
                version: p.get("V")?.to_string(),
                arch: p.get("A").unwrap_or(&"").to_string(),
                license: p.get("L").unwrap_or(&"").to_string(),
                path: String::new(),
                depends: Vec::new(),
            })
        })
        .collect()
}

/// The part of a `package.json` the SBOM reads.
#[derive(Deserialize)]
struct PackageJson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    license: Option<serde_json::Value>,
    #[serde(default)]
    dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "optionalDependencies")]
    optional: BTreeMap<String, serde_json::Value>,
}

/// Every package folder under the `node_modules` folder `base`, nested ones included,
/// with the dependencies each one resolves to.
fn npm(base: &Path) -> io::Result<(Vec<Package>, bool)> {
    let mut found: Vec<(Package, BTreeSet<String>)> = Vec::new();
    let mut queue = vec![(base.to_path_buf(), String::new())];
    let mut truncated = false;
    while let Some((dir, prefix)) = queue.pop() {
        for folder in package_folders(&dir)? {
            if found.len() >= MAX_NPM_PACKAGES {
                truncated = true;
                break;
            }
            let here = dir.join(&folder);
            let rel = format!("{prefix}{folder}");
            let Ok(bytes) = std::fs::read(here.join("package.json")) else {
                continue;
            };
            let Ok(pj) = serde_json::from_slice::<PackageJson>(&bytes) else {
                continue;
            };
            let wanted: BTreeSet<String> = pj
                .dependencies
                .keys()
                .chain(pj.optional.keys())
                .cloned()
                .collect();
            found.push((
                Package {
                    ecosystem: Ecosystem::Npm,
                    name: if pj.name.is_empty() {
                        folder.clone()
                    } else {
                        pj.name
                    },
                    version: pj.version,
                    arch: String::new(),
                    license: license_of(pj.license.as_ref()),
                    path: rel.clone(),
                    depends: Vec::new(),
                },
                wanted,
            ));
            let nested = here.join("node_modules");
            if nested.is_dir() {
                queue.push((nested, format!("{rel}/node_modules/")));
            }
        }
    }
    let paths: BTreeSet<String> = found.iter().map(|(p, _)| p.path.clone()).collect();
    let mut out: Vec<Package> = found
        .into_iter()
        .map(|(mut p, wanted)| {
            p.depends = wanted
                .iter()
                .filter_map(|d| resolve(&paths, &p.path, d))
                .collect();
            p
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((out, truncated))
}

/// The package folders of a `node_modules` folder: `name` and `@scope/name`, not dot
/// entries, not symlinks (links point at packages listed elsewhere).
fn package_folders(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for name in sorted_dirs(dir)? {
        if name.starts_with('.') {
            continue;
        }
        if name.starts_with('@') {
            for inner in sorted_dirs(&dir.join(&name))? {
                out.push(format!("{name}/{inner}"));
            }
        } else {
            out.push(name);
        }
    }
    Ok(out)
}

fn sorted_dirs(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Node's resolution of `dep` required from the package at `from`: its own
/// `node_modules`, then each enclosing package's, then the top.
fn resolve(paths: &BTreeSet<String>, from: &str, dep: &str) -> Option<String> {
    let mut base = from.to_string();
    loop {
        let candidate = format!("{base}/node_modules/{dep}");
        if paths.contains(&candidate) {
            return Some(candidate);
        }
        match base.rfind("/node_modules/") {
            Some(i) => base.truncate(i),
            None => break,
        }
    }
    paths.contains(dep).then(|| dep.to_string())
}

/// `license` as a string, or the `type` of the old object form.
fn license_of(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_debian_root_gives_its_installed_packages_and_release() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "var/lib/dpkg/status",
            "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.37-2+b5\nDescription: shell\n more text: with a colon\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: libc6\nStatus: install ok installed\nVersion: 2.41-12\nArchitecture: amd64\n",
        );
        write(
            d.path(),
            "usr/lib/os-release",
            "ID=debian\nVERSION_ID=\"13\"\n",
        );
        // Debian's /etc/os-release is a symlink; an absolute target is read inside the part.
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", d.path().join("etc/os-release")).unwrap();
        let inv = scan(d.path(), &ScanRequest::System).unwrap();
        assert_eq!(
            inv.os,
            Some(OsRelease {
                id: "debian".into(),
                version_id: "13".into()
            })
        );
        let names: Vec<(&str, &str)> = inv
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(names, [("bash", "5.2.37-2+b5"), ("libc6", "2.41-12")]);
        assert_eq!(inv.packages[0].arch, "amd64");
    }

    #[test]
    fn an_alpine_root_gives_its_apk_packages() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "lib/apk/db/installed",
            "C:Q1abc=\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n\nP:musl\nV:1.2.5-r0\nA:x86_64\n",
        );
        let inv = scan(d.path(), &ScanRequest::System).unwrap();
        assert_eq!(inv.os, None);
        assert_eq!(inv.packages.len(), 2);
        assert_eq!(inv.packages[0].license, "GPL-2.0-only");
        assert_eq!(inv.packages[0].ecosystem, Ecosystem::Apk);
    }

    #[test]
    fn a_root_without_databases_has_no_packages() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            scan(d.path(), &ScanRequest::System).unwrap(),
            Inventory::default()
        );
        let req = ScanRequest::Npm {
            dir: "/tools/npm/lib/node_modules".into(),
        };
        assert_eq!(scan(d.path(), &req).unwrap(), Inventory::default());
    }

    #[test]
    fn npm_trees_resolve_nested_hoisted_and_scoped_dependencies() {
        let d = tempfile::tempdir().unwrap();
        let nm = "tools/npm/lib/node_modules";
        write(
            d.path(),
            &format!("{nm}/@acme/cli/package.json"),
            r#"{"name":"@acme/cli","version":"1.2.0","license":"MIT","dependencies":{"debug":"^4","ms":"2"},"optionalDependencies":{"absent":"1"}}"#,
        );
        write(
            d.path(),
            &format!("{nm}/@acme/cli/node_modules/debug/package.json"),
            r#"{"name":"debug","version":"4.3.4","license":{"type":"MIT"},"dependencies":{"ms":"2.1.2"}}"#,
        );
        write(
            d.path(),
            &format!("{nm}/@acme/cli/node_modules/ms/package.json"),
            r#"{"name":"ms","version":"2.1.2"}"#,
        );
        write(d.path(), &format!("{nm}/.package-lock.json"), "{}");
        write(d.path(), &format!("{nm}/broken/package.json"), "{");
        let req = ScanRequest::Npm {
            dir: format!("/{nm}"),
        };
        let inv = scan(d.path(), &req).unwrap();
        let by_path: BTreeMap<&str, &Package> =
            inv.packages.iter().map(|p| (p.path.as_str(), p)).collect();
        assert_eq!(by_path.len(), 3, "{by_path:#?}");
        let cli = by_path["@acme/cli"];
        assert_eq!(
            (cli.name.as_str(), cli.version.as_str()),
            ("@acme/cli", "1.2.0")
        );
        assert_eq!(
            cli.depends,
            ["@acme/cli/node_modules/debug", "@acme/cli/node_modules/ms"]
        );
        let debug = by_path["@acme/cli/node_modules/debug"];
        assert_eq!(debug.license, "MIT");
        // `ms` required from debug is found in the enclosing package's node_modules.
        assert_eq!(debug.depends, ["@acme/cli/node_modules/ms"]);
    }
}
