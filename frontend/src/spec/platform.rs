//! Target platforms (`linux/amd64`, `linux/arm64`, `linux/arm/v7`).
//!
//! Spellings are normalised the way containerd does it, so `linux/x86_64` and
//! `linux/amd64` name the same platform and select the same per-platform URL.
//!
//! ```
//! use aishell_frontend::spec::platform::Platform;
//! let p = Platform::parse("linux/aarch64").unwrap();
//! assert_eq!(p.to_string(), "linux/arm64");
//! assert_eq!(p.arch, "arm64");
//! ```

use std::fmt;

/// An OCI platform: os, architecture and optional variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `amd64`, `arm64`.
    pub arch: String,
    /// e.g. `v7` for `arm`; `None` when there is none.
    pub variant: Option<String>,
}

impl Platform {
    /// linux/amd64, the most common target.
    pub fn linux_amd64() -> Self {
        Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
        }
    }

    /// Parses and normalises `os/arch[/variant]`.
    ///
    /// Errors: a string that does not have two or three non-empty parts.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{s}` is not a platform; expected os/arch[/variant] such as linux/amd64"
            ));
        }
        if parts.iter().any(|p| {
            !p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        }) {
            return Err(format!("`{s}` has characters not allowed in a platform"));
        }
        let os = parts[0].to_ascii_lowercase();
        let raw_arch = parts[1].to_ascii_lowercase();
        let mut variant = parts.get(2).map(|v| v.to_ascii_lowercase());
        let arch = match raw_arch.as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            "armhf" => {
                variant.get_or_insert_with(|| "v7".into());
                "arm".to_string()
            }
            "armel" => {
                variant.get_or_insert_with(|| "v6".into());
                "arm".to_string()
            }
            "i386" | "i686" => "386".to_string(),
            other => other.to_string(),
        };
        // arm64 is v8 unless said otherwise; containerd drops the default variant.
        if arch == "arm64" && variant.as_deref() == Some("v8") {
            variant = None;
        }
        if arch == "arm" && variant.is_none() {
            variant = Some("v7".into());
        }
        Ok(Platform { os, arch, variant })
    }

    /// The OCI JSON object (`{"architecture":…,"os":…}`) as used in image configs.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("architecture".into(), self.arch.clone().into());
        m.insert("os".into(), self.os.clone().into());
        if let Some(v) = &self.variant {
            m.insert("variant".into(), v.clone().into());
        }
        serde_json::Value::Object(m)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap(),
            Platform::linux_amd64()
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//x").is_err());
        assert!(Platform::parse("linux/amd64/v2/x").is_err());
    }
}
