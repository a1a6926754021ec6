//! The OCI image config of the result.
//!
//! MergeOp merges filesystems, not configs, so the frontend composes the config itself:
//! the foundation image's config, then foundation and extension env, then the harness
//! env (PATH and NODE_PATH), then the `image:` section and `--label`s. Unknown fields of
//! the base config are kept as they are.
//!
//! ```
//! use aishell_frontend::graph::image_config::ImageConfig;
//! let mut c = ImageConfig::from_base(serde_json::json!({"config": {"Env": ["PATH=/bin"]}}));
//! c.prepend_path(&["/tools/bin"]);
//! assert_eq!(c.env("PATH").as_deref(), Some("/tools/bin:/bin"));
//! ```

use crate::spec::platform::Platform;
use serde_json::{Map, Value, json};

/// PATH when the base image has none (what BuildKit uses for RUN steps).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An image config under construction (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    json: Map<String, Value>,
}

impl ImageConfig {
    /// Starts from a base image's config JSON (anything not an object gives an empty one).
    pub fn from_base(base: Value) -> Self {
        let json = match base {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut c = ImageConfig { json };
        // rootfs is recomputed by the exporter from the real layers.
        c.json.remove("rootfs");
        // The base's creation time is not ours: without SOURCE_DATE_EPOCH the exporter
        // stamps the build time, as for a Dockerfile build.
        c.json.remove("created");
        c
    }

    /// An empty config (for targets built from scratch).
    pub fn empty() -> Self {
        ImageConfig { json: Map::new() }
    }

    fn config_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self
            .json
            .entry("config")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => m,
            _ => unreachable!("just made an object"),
        }
    }

    fn config(&self) -> Option<&Map<String, Value>> {
        self.json.get("config").and_then(Value::as_object)
    }

    /// The `KEY=VALUE` list.
    pub fn env_list(&self) -> Vec<String> {
        self.config()
            .and_then(|c| c.get("Env"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value of one variable.
    pub fn env(&self, key: &str) -> Option<String> {
        self.env_list().into_iter().find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Sets a variable, replacing an earlier value in place.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut list = self.env_list();
        let entry = format!("{key}={value}");
        match list
            .iter()
            .position(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
        {
            Some(i) => list[i] = entry,
            None => list.push(entry),
        }
        self.config_mut().insert("Env".into(), json!(list));
    }

    /// Puts `dirs` in front of PATH (the default PATH when there is none), without
    /// repeating a directory that is already there.
    pub fn prepend_path(&mut self, dirs: &[&str]) {
        let current = self.env("PATH").unwrap_or_else(|| DEFAULT_PATH.to_string());
        let mut parts: Vec<&str> = dirs.to_vec();
        for p in current.split(':') {
            if !p.is_empty() && !parts.contains(&p) {
                parts.push(p);
            }
        }
        self.set_env("PATH", &parts.join(":"));
    }

    /// Sets a string field of `config` (`WorkingDir`, `User`).
    pub fn set_string(&mut self, field: &str, value: &str) {
        self.config_mut().insert(field.into(), json!(value));
    }

    /// A string field of `config`.
    pub fn string(&self, field: &str) -> Option<String> {
        self.config()
            .and_then(|c| c.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Sets `Entrypoint`; like Dockerfile's ENTRYPOINT it resets an inherited `Cmd`.
    pub fn set_entrypoint(&mut self, argv: &[String]) {
        let c = self.config_mut();
        c.insert("Entrypoint".into(), json!(argv));
        c.remove("Cmd");
    }

    /// Sets `Cmd`.
    pub fn set_cmd(&mut self, argv: &[String]) {
        self.config_mut().insert("Cmd".into(), json!(argv));
    }

    /// Sets a label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let c = self.config_mut();
        let labels = c
            .entry("Labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Value::Object(m) = labels {
            m.insert(key.into(), json!(value));
        }
    }

    /// Sets os, architecture and variant.
    pub fn set_platform(&mut self, p: &Platform) {
        self.json.insert("os".into(), json!(p.os));
        self.json.insert("architecture".into(), json!(p.arch));
        match &p.variant {
            Some(v) => self.json.insert("variant".into(), json!(v)),
            None => self.json.remove("variant"),
        };
    }

    /// Appends history entries, one per new layer (`empty_layer` false) or config change.
    pub fn push_history(&mut self, created_by: &str, empty_layer: bool, created: Option<&str>) {
        let mut h = Map::new();
        if let Some(c) = created {
            h.insert("created".into(), json!(c));
        }
        h.insert("created_by".into(), json!(created_by));
        h.insert("comment".into(), json!("aishell-frontend"));
        if empty_layer {
            h.insert("empty_layer".into(), json!(true));
        }
        let hist = self
            .json
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !hist.is_array() {
            *hist = Value::Array(Vec::new());
        }
        if let Value::Array(a) = hist {
            a.push(Value::Object(h));
        }
    }

    /// Sets the creation time (RFC 3339).
    pub fn set_created(&mut self, created: &str) {
        self.json.insert("created".into(), json!(created));
    }

    /// Number of history entries that describe a layer.
    pub fn layer_history_len(&self) -> usize {
        self.json
            .get("history")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|h| h.get("empty_layer").and_then(Value::as_bool) != Some(true))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The JSON value.
    pub fn to_json(&self) -> Value {
        Value::Object(self.json.clone())
    }

    /// The JSON bytes for `containerimage.config`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json).unwrap_or_default()
    }
}

/// Formats Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`), without a date crate.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm, public domain description).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn env_and_entrypoint() {
        let mut c = ImageConfig::from_base(json!({
            "config": {"Env": ["PATH=/usr/bin:/bin", "A=1"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers"}
        }));
        c.set_env("A", "2");
        c.prepend_path(&["/tools/npm/bin", "/tools/bin", "/bin"]);
        c.set_entrypoint(&["/e".into()]);
        let j = c.to_json();
        assert_eq!(
            j["config"]["Env"],
            json!(["PATH=/tools/npm/bin:/tools/bin:/bin:/usr/bin", "A=2"])
        );
        assert!(j["config"].get("Cmd").is_none());
        assert!(j.get("rootfs").is_none());
    }
}
