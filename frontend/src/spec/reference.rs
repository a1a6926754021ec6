//! Image references, normalised the way Docker does it.
//!
//! `busybox` and `docker.io/library/busybox:latest` are the same image; the LLB source
//! must spell it one way so equal images give equal vertex digests.
//!
//! ```
//! use aishell_frontend::spec::reference::normalize;
//! assert_eq!(normalize("busybox").unwrap(), "docker.io/library/busybox:latest");
//! assert_eq!(normalize("ghcr.io/o/x:1").unwrap(), "ghcr.io/o/x:1");
//! assert_eq!(normalize("localhost:5000/x").unwrap(), "localhost:5000/x:latest");
//! ```

/// True when the reference carries a `@sha256:` digest pin.
pub fn is_pinned(reference: &str) -> bool {
    reference.contains("@sha256:")
}

/// Normalises an image reference: adds `docker.io/`, `library/` and `:latest` as Docker
/// would.
///
/// Errors: an empty reference, upper-case repository names, bad characters or a
/// malformed digest.
pub fn normalize(reference: &str) -> Result<String, String> {
    let r = reference.trim();
    if r.is_empty() {
        return Err("an image reference is empty".into());
    }
    let (name_tag, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let hexpart = d
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("`{r}`: only sha256 digests are supported"))?;
        if hexpart.len() != 64 || !hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("`{r}`: a sha256 digest has 64 hex digits"));
        }
    }
    // The tag is after the last `:` that follows the last `/` (a `:` before it is a port).
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(t) = tag
        && (t.is_empty()
            || t.len() > 128
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
    {
        return Err(format!("`{r}`: `{t}` is not a valid tag"));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let has_domain = parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    let domain = if has_domain {
        parts.remove(0).to_string()
    } else {
        "docker.io".to_string()
    };
    if parts.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{r}` is not an image reference"));
    }
    for p in &parts {
        if !p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return Err(format!(
                "`{r}`: repository names use lower-case letters, digits, `.`, `_` and `-`"
            ));
        }
    }
    if domain == "docker.io" && parts.len() == 1 {
        parts.insert(0, "library");
    }
    let mut out = format!("{domain}/{}", parts.join("/"));
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(
            normalize(&format!("debian:trixie-slim@{d}")).unwrap(),
            format!("docker.io/library/debian:trixie-slim@{d}")
        );
        assert_eq!(
            normalize(&format!("debian@{d}")).unwrap(),
            format!("docker.io/library/debian@{d}")
        );
        assert_eq!(
            normalize("aishell-test/busybox:1").unwrap(),
            "docker.io/aishell-test/busybox:1"
        );
        assert!(normalize("Busybox").is_err());
        assert!(normalize("busybox@sha256:12").is_err());
        assert!(normalize("busybox:").is_err());
        assert!(is_pinned(&format!("x@{d}")));
    }
}
