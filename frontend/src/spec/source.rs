//! The spec as read: its name, its text and its folder.

use std::path::{Path, PathBuf};

/// A spec file: the one source type of the build, the subrequests and the command line.
///
/// The session reads the bytes through the client's `dockerfile` local and makes this value
/// once they are text; the command line reads a file from disk.
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// The name shown in messages (the path as the user typed it).
    pub name: String,
    /// The text.
    pub text: String,
    /// The folder the spec lives in, to find an extension Dockerfile; `None` when the
    /// spec did not come from a file.
    pub dir: Option<PathBuf>,
}

impl SpecFile {
    /// Reads a spec from disk.
    ///
    /// Errors: the file cannot be read ([`ReadError::Io`]) or is not UTF-8
    /// ([`ReadError::NotText`]), as a message naming it.
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        let name = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| ReadError::Io(format!("cannot read {name}: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ReadError::NotText(format!("{name} is not UTF-8 text")))?;
        Ok(SpecFile {
            name,
            text,
            dir: Some(path.parent().map(Path::to_path_buf).unwrap_or_default()),
        })
    }

    /// A spec given as text (tests, examples).
    pub fn from_text(name: &str, text: &str) -> Self {
        SpecFile {
            name: name.to_string(),
            text: text.to_string(),
            dir: None,
        }
    }
}

/// Why a spec file could not be read: the file system said no, or the file is not text.
/// The command line tells them apart because the first is an I/O error (exit 2) and the
/// second a problem of the spec (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Missing, unreadable, a directory.
    Io(String),
    /// Not UTF-8.
    NotText(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(m) | ReadError::NotText(m) => f.write_str(m),
        }
    }
}
