//! Checks of single values of the spec: names (environment variables, apt and npm
//! packages, files), file modes and owners, and the "did you mean" hint for a misspelt key.
//! Parsing and resolution both call these, so each rule is written once.

use super::Owner;

/// The allowed key closest to a misspelt one, if it is close enough to be a typo: two
/// edits, or a third one for long keys (`workingdir` → `workdir`), or the only allowed
/// key it abbreviates (`ext` → `extension`).
pub fn closest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    let limit = 2.max(key.chars().count() / 3);
    let typo = allowed
        .iter()
        .map(|k| (strsim::levenshtein(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k);
    typo.or_else(|| {
        let longer: Vec<&'k str> = allowed
            .iter()
            .copied()
            .filter(|k| key.len() >= 3 && k.to_ascii_lowercase().starts_with(&key))
            .collect();
        (longer.len() == 1).then(|| longer[0])
    })
}

/// A valid name close to an invalid one (`MY-VAR` → `MY_VAR`), when there is an obvious one.
pub fn suggest_name(s: &str) -> Option<String> {
    let fixed: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    (fixed != s && valid_env_name(&fixed)).then_some(fixed)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Debian package names (policy 5.6.1) with an optional `=version` or `/suite`.
pub fn valid_apt_name(s: &str) -> bool {
    let name = s.split(['=', '/']).next().unwrap_or("");
    let mut chars = name.chars();
    name.len() >= 2
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:~=/_".contains(c))
}

/// npm package names: optional `@scope/`, lower-case URL-safe characters.
pub fn valid_npm_name(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.starts_with('_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
    };
    if s.len() > 214 {
        return false;
    }
    match s.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, name)) => ok(scope) && ok(name),
            None => false,
        },
        None => ok(s),
    }
}

/// A single path component of safe characters.
pub fn valid_file_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

pub fn parse_mode(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok()
}

pub fn parse_owner(s: &str) -> Option<Owner> {
    let (u, g) = s.split_once(':')?;
    let num = |x: &str| {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            None
        } else {
            x.parse::<u32>().ok()
        }
    };
    Some(Owner {
        uid: num(u)?,
        gid: num(g)?,
    })
}
