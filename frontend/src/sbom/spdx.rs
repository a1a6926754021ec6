//! The SPDX 2.3 document of one platform's image, from the parts' inventories and what
//! the spec says of each harness tool.
//!
//! The document lists, as packages contained by the image: the OS packages of the
//! foundation and the extension (each marked with its part), one package per harness tool
//! (a purl for npm tools; the URL and SHA-256 for binaries), and every package of each npm
//! tool's dependency tree, linked by `DEPENDS_ON`.

use super::scan::{Ecosystem, Inventory, OsRelease, Package};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The in-toto predicate type of an SPDX document (what BuildKit looks for to skip its
/// own scanner).
pub const PREDICATE_TYPE: &str = "https://spdx.dev/Document";

/// An npm harness tool and what its install put in its layer.
#[derive(Debug, Clone)]
pub struct NpmTool {
    /// Package name, as in the spec.
    pub name: String,
    /// Version, as in the spec.
    pub version: String,
    /// The scan of its layer's `node_modules`.
    pub inventory: Inventory,
}

/// A binary harness tool, as the spec pins it.
#[derive(Debug, Clone)]
pub struct BinaryTool {
    /// Name (`gitleaks`).
    pub name: String,
    /// Version (from its URL, else the start of its checksum).
    pub version: String,
    /// Download URL.
    pub url: String,
    /// SHA-256 of the download.
    pub sha256: String,
}

/// Everything one platform's document is made of.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// The target (`image`, `foundation`, …): the document's subject.
    pub subject: String,
    /// The platform (`linux/amd64`).
    pub platform: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The frontend's version, for the creator.
    pub tool_version: String,
    /// The foundation's system scan.
    pub foundation: Option<Inventory>,
    /// The system scan of foundation plus extension (its package database is the image's).
    pub extension: Option<Inventory>,
    /// npm harness tools.
    pub npm: Vec<NpmTool>,
    /// Binary harness tools.
    pub binaries: Vec<BinaryTool>,
}

/// An SPDX 2.3 document (the JSON fields this frontend writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// `SPDX-2.3`.
    pub spdx_version: String,
    /// `CC0-1.0`, as the specification requires.
    pub data_license: String,
    /// `SPDXRef-DOCUMENT`.
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    /// Name of the document.
    pub name: String,
    /// A URI unique to this content.
    pub document_namespace: String,
    /// Who made it and when.
    pub creation_info: CreationInfo,
    /// The packages.
    pub packages: Vec<SpdxPackage>,
    /// How they relate.
    pub relationships: Vec<Relationship>,
}

/// `creationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    /// RFC 3339 time.
    pub created: String,
    /// `Tool: aishell-frontend-<version>`.
    pub creators: Vec<String>,
}

/// One SPDX package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpdxPackage {
    /// Name.
    pub name: String,
    /// `SPDXRef-…`, unique in the document.
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    /// Version.
    pub version_info: String,
    /// Where it was downloaded from, or `NOASSERTION`.
    pub download_location: String,
    /// Always false: files are not listed.
    pub files_analyzed: bool,
    /// `NOASSERTION`.
    pub license_concluded: String,
    /// The package's own license declaration, or `NOASSERTION`.
    pub license_declared: String,
    /// `NOASSERTION`.
    pub copyright_text: String,
    /// Checksums of the download.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    /// The purl.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    /// `APPLICATION` for harness tools, `CONTAINER` for the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
    /// Which part of the image the package is in (`aishell part: foundation`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// A checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    /// `SHA256`.
    pub algorithm: String,
    /// Hex digest.
    pub checksum_value: String,
}

/// An external reference (a purl).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    /// `PACKAGE-MANAGER`.
    pub reference_category: String,
    /// `purl`.
    pub reference_type: String,
    /// The purl.
    pub reference_locator: String,
}

/// A relationship between two elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    /// From.
    pub spdx_element_id: String,
    /// `DESCRIBES`, `CONTAINS`, `DEPENDS_ON`.
    pub relationship_type: String,
    /// To.
    pub related_spdx_element: String,
}

const NOASSERTION: &str = "NOASSERTION";

/// Builds the document of `c`. The same contents give the same bytes.
pub fn document(c: &Contents) -> Document {
    let mut b = Builder::default();
    let root = b.add(SpdxPackage {
        primary_package_purpose: Some("CONTAINER".into()),
        comment: format!("the {} target for {}", c.subject, c.platform),
        ..package(&c.subject, "", "image")
    });
    b.relate("SPDXRef-DOCUMENT", "DESCRIBES", &root);

    // OS packages: the extension's database is the image's when there is one (it sits
    // above the foundation's in the merge); a package the foundation has too is the
    // foundation's.
    let system = c.extension.as_ref().or(c.foundation.as_ref());
    if let Some(inv) = system {
        let from_foundation: BTreeSet<(&str, &str, &str)> = c
            .foundation
            .iter()
            .flat_map(|f| f.packages.iter())
            .map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_str()))
            .collect();
        for p in &inv.packages {
            let part = if c.extension.is_none()
                || from_foundation.contains(&(p.name.as_str(), p.version.as_str(), p.arch.as_str()))
            {
                "foundation"
            } else {
                "extension"
            };
            let id = b.add(SpdxPackage {
                license_declared: license(&p.license),
                external_refs: purl_ref(os_purl(p, inv.os.as_ref())),
                comment: format!("aishell part: {part}"),
                ..package(&p.name, &p.version, "os")
            });
            b.relate(&root, "CONTAINS", &id);
        }
    }

    for tool in &c.npm {
        let tree = tool.inventory.subtree(&tool.name);
        let mut ids = std::collections::BTreeMap::new();
        for p in &tree {
            let top = p.path == tool.name;
            let id = b.add(SpdxPackage {
                license_declared: license(&p.license),
                external_refs: purl_ref(npm_purl(&p.name, &p.version)),
                primary_package_purpose: top.then(|| "APPLICATION".into()),
                comment: format!("aishell part: harness tool {}", tool.name),
                ..package(&p.name, &p.version, "npm")
            });
            ids.insert(p.path.clone(), id);
        }
        // The tool itself, even when its layer held no package.json for it.
        let top = match ids.get(&tool.name) {
            Some(id) => id.clone(),
            None => {
                let id = b.add(SpdxPackage {
                    external_refs: purl_ref(npm_purl(&tool.name, &tool.version)),
                    primary_package_purpose: Some("APPLICATION".into()),
                    comment: format!("aishell part: harness tool {}", tool.name),
                    ..package(&tool.name, &tool.version, "npm")
                });
                ids.insert(tool.name.clone(), id.clone());
                id
            }
        };
        b.relate(&root, "CONTAINS", &top);
        for p in &tree {
            for d in &p.depends {
                if let (Some(from), Some(to)) = (ids.get(&p.path), ids.get(d)) {
                    b.relate(from, "DEPENDS_ON", to);
                }
            }
        }
    }

    for t in &c.binaries {
        let id = b.add(SpdxPackage {
            download_location: t.url.clone(),
            checksums: vec![Checksum {
                algorithm: "SHA256".into(),
                checksum_value: t.sha256.clone(),
            }],
            external_refs: purl_ref(format!(
                "pkg:generic/{}@{}?checksum=sha256:{}&download_url={}",
                enc(&t.name),
                enc(&t.version),
                t.sha256,
                enc(&t.url)
            )),
            primary_package_purpose: Some("APPLICATION".into()),
            comment: format!("aishell part: harness tool {}", t.name),
            ..package(&t.name, &t.version, "binary")
        });
        b.relate(&root, "CONTAINS", &id);
    }

    let mut doc = Document {
        spdx_version: "SPDX-2.3".into(),
        data_license: "CC0-1.0".into(),
        spdx_id: "SPDXRef-DOCUMENT".into(),
        name: format!("aishell {} {}", c.subject, c.platform),
        document_namespace: String::new(),
        creation_info: CreationInfo {
            created: c.created.clone(),
            creators: vec![format!("Tool: aishell-frontend-{}", c.tool_version)],
        },
        packages: b.packages,
        relationships: b.relationships,
    };
    // Unique per content, the same for the same content.
    let body = serde_json::to_vec(&(&doc.packages, &doc.relationships)).unwrap_or_default();
    let sum = hex::encode(Sha256::digest(&body));
    let platform = c.platform.replace('/', "-");
    doc.document_namespace = format!(
        "https://spdx.org/spdxdocs/aishell-{}-{platform}-{}",
        c.subject,
        &sum[..32]
    );
    doc
}

#[derive(Default)]
struct Builder {
    packages: Vec<SpdxPackage>,
    relationships: Vec<Relationship>,
}

impl Builder {
    /// Adds `p` with a fresh id; returns the id.
    fn add(&mut self, mut p: SpdxPackage) -> String {
        p.spdx_id = format!("{}-{}", p.spdx_id, self.packages.len());
        let id = p.spdx_id.clone();
        self.packages.push(p);
        id
    }

    fn relate(&mut self, from: &str, kind: &str, to: &str) {
        self.relationships.push(Relationship {
            spdx_element_id: from.into(),
            relationship_type: kind.into(),
            related_spdx_element: to.into(),
        });
    }
}

/// A package with the defaults; its id is `SPDXRef-<kind>-<name>` until [`Builder::add`]
/// makes it unique.
fn package(name: &str, version: &str, kind: &str) -> SpdxPackage {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    SpdxPackage {
        name: name.into(),
        spdx_id: format!("SPDXRef-{kind}-{}", safe.trim_matches('-')),
        version_info: version.into(),
        download_location: NOASSERTION.into(),
        files_analyzed: false,
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION.into(),
        checksums: Vec::new(),
        external_refs: Vec::new(),
        primary_package_purpose: None,
        comment: String::new(),
    }
}

/// A declared license when it reads as a plain SPDX expression, else `NOASSERTION`
/// (free text would make the document invalid).
fn license(l: &str) -> String {
    // Identifiers (`MIT`, `GPL-2.0-or-later`, `LicenseRef-x`) joined by AND/OR/WITH,
    // parentheses anywhere: "SEE LICENSE IN LICENSE.md" is four words, not an expression.
    let spaced = l.replace(['(', ')'], " ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let id = |w: &str| {
        !["AND", "OR", "WITH"].contains(&w)
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+:".contains(c))
    };
    let ok = !words.is_empty()
        && words.iter().enumerate().all(|(i, w)| {
            if i % 2 == 0 {
                id(w)
            } else {
                ["AND", "OR", "WITH"].contains(w)
            }
        })
        && words.len() % 2 == 1;
    if ok { l.into() } else { NOASSERTION.into() }
}

fn purl_ref(purl: String) -> Vec<ExternalRef> {
    vec![ExternalRef {
        reference_category: "PACKAGE-MANAGER".into(),
        reference_type: "purl".into(),
        reference_locator: purl,
    }]
}

/// Percent-encodes everything but the characters a purl component may hold as they are.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:npm/%40scope/name@1.0.0`.
pub fn npm_purl(name: &str, version: &str) -> String {
    let path = match name.split_once('/') {
        Some((scope, n)) => format!("{}/{}", enc(scope), enc(n)),
        None => enc(name),
    };
    format!("pkg:npm/{path}@{}", enc(version))
}

/// `pkg:deb/debian/bash@5.2?arch=amd64&distro=debian-13`, `pkg:apk/alpine/…`.
fn os_purl(p: &Package, os: Option<&OsRelease>) -> String {
    let (kind, default_ns) = match p.ecosystem {
        Ecosystem::Apk => ("apk", "alpine"),
        _ => ("deb", "debian"),
    };
    let ns = os
        .map(|o| o.id.as_str())
        .filter(|i| !i.is_empty())
        .unwrap_or(default_ns);
    let mut q = Vec::new();
    if !p.arch.is_empty() {
        q.push(format!("arch={}", enc(&p.arch)));
    }
    if let Some(o) = os.filter(|o| !o.id.is_empty() && !o.version_id.is_empty()) {
        q.push(format!("distro={}-{}", enc(&o.id), enc(&o.version_id)));
    }
    let q = if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    };
    format!(
        "pkg:{kind}/{}/{}@{}{q}",
        enc(ns),
        enc(&p.name),
        enc(&p.version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(name: &str, version: &str) -> Package {
        Package {
            ecosystem: Ecosystem::Deb,
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            license: String::new(),
            path: String::new(),
            depends: Vec::new(),
        }
    }

    fn npm(path: &str, version: &str, depends: &[&str]) -> Package {
        Package {
            ecosystem: Ecosystem::Npm,
            name: path.rsplit("node_modules/").next().unwrap().into(),
            version: version.into(),
            arch: String::new(),
            license: "MIT".into(),
            path: path.into(),
            depends: depends.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn contents() -> Contents {
        let os = Some(OsRelease {
            id: "debian".into(),
            version_id: "13".into(),
        });
        Contents {
            subject: "image".into(),
            platform: "linux/amd64".into(),
            created: "2026-12-07T00:00:00Z".into(),
            tool_version: "0.1.0".into(),
            foundation: Some(Inventory {
                os: os.clone(),
                packages: vec![deb("bash", "5.2.37-2+b5")],
                truncated: false,
            }),
            extension: Some(Inventory {
                os,
                packages: vec![deb("bash", "5.2.37-2+b5"), deb("git", "1:2.47.2-0.1")],
                truncated: false,
            }),
            npm: vec![NpmTool {
                name: "@acme/cli".into(),
                version: "1.2.0".into(),
                inventory: Inventory {
                    os: None,
                    packages: vec![
                        npm("@acme/cli", "1.2.0", &["@acme/cli/node_modules/ms"]),
                        npm("@acme/cli/node_modules/ms", "2.1.2", &[]),
                        npm("other", "9.9.9", &[]),
                    ],
                    truncated: false,
                },
            }],
            binaries: vec![BinaryTool {
                name: "gitleaks".into(),
                version: "8.30.0".into(),
                url: "https://example.invalid/g.tar.gz".into(),
                sha256: "ab".repeat(32),
            }],
        }
    }

    fn find<'a>(d: &'a Document, name: &str) -> &'a SpdxPackage {
        d.packages
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn every_part_is_listed_with_its_identifiers() {
        let d = document(&contents());
        let purl = |p: &SpdxPackage| p.external_refs[0].reference_locator.clone();
        assert_eq!(
            purl(find(&d, "bash")),
            "pkg:deb/debian/bash@5.2.37-2%2Bb5?arch=amd64&distro=debian-13"
        );
        assert_eq!(find(&d, "bash").comment, "aishell part: foundation");
        assert_eq!(find(&d, "git").comment, "aishell part: extension");
        let cli = find(&d, "@acme/cli");
        assert_eq!(purl(cli), "pkg:npm/%40acme/cli@1.2.0");
        assert_eq!(cli.primary_package_purpose.as_deref(), Some("APPLICATION"));
        assert_eq!(cli.license_declared, "MIT");
        let g = find(&d, "gitleaks");
        assert_eq!(g.download_location, "https://example.invalid/g.tar.gz");
        assert_eq!(g.checksums[0].checksum_value, "ab".repeat(32));
        assert!(purl(g).starts_with("pkg:generic/gitleaks@8.30.0?checksum=sha256:abab"));
        // A package outside the tool's own tree is not the tool's.
        assert!(d.packages.iter().all(|p| p.name != "other"));
        // The dependency edge.
        let ms = find(&d, "ms");
        assert!(
            d.relationships
                .iter()
                .any(|r| r.spdx_element_id == cli.spdx_id
                    && r.relationship_type == "DEPENDS_ON"
                    && r.related_spdx_element == ms.spdx_id)
        );
    }

    #[test]
    fn ids_are_unique_and_valid_and_every_relationship_points_at_one() {
        let d = document(&contents());
        let ids: BTreeSet<&str> = d.packages.iter().map(|p| p.spdx_id.as_str()).collect();
        assert_eq!(ids.len(), d.packages.len());
        for id in &ids {
            assert!(
                id.starts_with("SPDXRef-")
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                "{id}"
            );
        }
        for r in &d.relationships {
            assert!(
                r.spdx_element_id == "SPDXRef-DOCUMENT" || ids.contains(r.spdx_element_id.as_str()),
                "{r:?}"
            );
            assert!(ids.contains(r.related_spdx_element.as_str()), "{r:?}");
        }
        assert_eq!(
            d.relationships
                .iter()
                .filter(|r| r.relationship_type == "DESCRIBES")
                .count(),
            1
        );
    }

    #[test]
    fn the_same_contents_give_the_same_bytes_and_a_change_a_new_namespace() {
        let a = serde_json::to_vec(&document(&contents())).unwrap();
        assert_eq!(a, serde_json::to_vec(&document(&contents())).unwrap());
        let mut c = contents();
        c.npm[0].version = "1.3.0".into();
        c.npm[0].inventory.packages[0].version = "1.3.0".into();
        let b = document(&c);
        assert_ne!(
            b.document_namespace,
            document(&contents()).document_namespace
        );
        assert_eq!(find(&b, "@acme/cli").version_info, "1.3.0");
    }

    #[test]
    fn a_tool_whose_layer_has_no_package_file_is_still_listed() {
        let mut c = contents();
        c.npm[0].inventory.packages.clear();
        let d = document(&c);
        assert_eq!(find(&d, "@acme/cli").version_info, "1.2.0");
    }

    #[test]
    fn free_text_licenses_are_not_asserted() {
        assert_eq!(license("MIT"), "MIT");
        assert_eq!(license("(MIT OR Apache-2.0)"), "(MIT OR Apache-2.0)");
        assert_eq!(license("SEE LICENSE IN LICENSE.md"), NOASSERTION);
        assert_eq!(license("mit or apache"), NOASSERTION);
        assert_eq!(license(""), NOASSERTION);
    }
}
