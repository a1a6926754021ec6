//! The OCI image config of the result.
//!
//! MergeOp merges filesystems, not configs, so the frontend composes the config itself:
//! the foundation image's config, then foundation and extension env, then the harness
//! env (PATH and NODE_PATH), then the `image:` section and `--label`s. Unknown fields of
//! the base config are kept as they are.
//!
//! ```
//! use aishell_frontend::graph::image_config::ImageConfig;
//! let base = ImageConfig::parse(br#"{"config": {"Env": ["PATH=/bin"]}}"#).unwrap();
//! let mut c = ImageConfig::from_base(base);
//! c.prepend_path(&["/tools/bin"]);
//! assert_eq!(c.env("PATH").as_deref(), Some("/tools/bin:/bin"));
//! ```

use crate::spec::platform::Platform;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// PATH when the base image has none (what BuildKit uses for RUN steps).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A field of a config read from elsewhere: absent, `null`, or set. Configs written by
/// older tools hold `"Entrypoint": null`; a field the frontend does not change is written
/// back exactly as it came, so the image config's digest does not change with this type.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// Not in the JSON.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A value.
    Set(T),
}

impl<T> Field<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The value, when set.
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `Absent` is skipped by `skip_serializing_if`; were it not, it would be `null`.
        self.get().serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Called only for a key that is there (`#[serde(default)]` gives `Absent`).
        Ok(Option::<T>::deserialize(d)?.map_or(Field::Null, Field::Set))
    }
}

/// An OCI image config (the image-spec's `application/vnd.oci.image.config.v1+json`): the
/// fields the frontend reads or writes are typed; every other field, of the config and of
/// its `config` and `history` entries, is kept as it came.
///
/// ```
/// use aishell_frontend::graph::image_config::ImageConfig;
/// let base = ImageConfig::parse(br#"{"os":"linux","config":{"Entrypoint":null,"Cmd":["sh"]}}"#)?;
/// let mut c = ImageConfig::from_base(base);
/// c.set_entrypoint(&["/bin/aishell".to_string()]);
/// assert_eq!(c.to_bytes(), br#"{"config":{"Entrypoint":["/bin/aishell"]},"os":"linux"}"#);
/// # Ok::<(), aishell_frontend::graph::image_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    architecture: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    os: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    variant: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    created: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    config: Field<RunConfig>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    history: Field<Vec<History>>,
    /// `rootfs`, `author`, `os.version`, … as they came.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// The `config` of an image config: what a container of the image runs with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(rename = "Env", default, skip_serializing_if = "Field::is_absent")]
    env: Field<Vec<String>>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Field::is_absent"
    )]
    entrypoint: Field<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Field::is_absent")]
    cmd: Field<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Field::is_absent"
    )]
    working_dir: Field<String>,
    #[serde(rename = "User", default, skip_serializing_if = "Field::is_absent")]
    user: Field<String>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Field::is_absent")]
    labels: Field<BTreeMap<String, String>>,
    /// `ExposedPorts`, `Volumes`, `StopSignal`, … as they came.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// One `history` entry: a layer, or a config change (`empty_layer`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    empty_layer: Option<bool>,
    /// `author`, … as they came.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// An image config that [`ImageConfig::parse`] cannot read: serde's error, and the field it
/// is about when one is to blame.
#[derive(Debug)]
pub struct ConfigError {
    /// `config.Env`, `history[2].empty_layer`, `os`; `None` when the JSON itself is wrong.
    pub field: Option<String>,
    /// What serde said.
    pub error: serde_json::Error,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for ConfigError {}

// serde loses the path of an error inside a struct with a flattened map, so the field is
// found afterwards: the first key whose value alone does not read as the same type (the
// types themselves decide, nothing about them is written twice).
fn wrong_field(config: &Value) -> Option<String> {
    let top = config.as_object()?;
    let (key, value) = first_wrong::<ImageConfig>(top)?;
    let inner = match (key.as_str(), value) {
        ("config", Value::Object(run)) => {
            first_wrong::<RunConfig>(run).map(|(k, _)| format!("config.{k}"))
        }
        ("history", Value::Array(entries)) => entries.iter().enumerate().find_map(|(i, e)| {
            let entry = e.as_object();
            match entry.map(first_wrong::<History>) {
                Some(Some((k, _))) => Some(format!("history[{i}].{k}")),
                Some(None) => None,
                None => Some(format!("history[{i}]")),
            }
        }),
        _ => None,
    };
    Some(inner.unwrap_or_else(|| key.clone()))
}

/// The first entry of `map` that, alone in a map, does not deserialize as `T`.
fn first_wrong<T: serde::de::DeserializeOwned>(
    map: &serde_json::Map<String, Value>,
) -> Option<(&String, &Value)> {
    map.iter().find(|(k, v)| {
        let alone = serde_json::Map::from_iter([((*k).clone(), (*v).clone())]);
        serde_json::from_value::<T>(Value::Object(alone)).is_err()
    })
}

impl ImageConfig {
    /// Reads an image config's JSON.
    ///
    /// Errors: not JSON, or a field of the wrong type (an `Env` that is not a list of
    /// strings); the message names the field (`config.Env: invalid type: …`).
    pub fn parse(json: &[u8]) -> Result<Self, ConfigError> {
        serde_json::from_slice(json).map_err(|error| ConfigError {
            // Only a failure reads the JSON again, to find the field.
            field: serde_json::from_slice::<Value>(json)
                .ok()
                .as_ref()
                .and_then(wrong_field),
            error,
        })
    }

    /// The config of an image that is only a platform (a folder given for an image has no
    /// config of its own; the offline plan's stand-ins have nothing else either).
    pub fn for_platform(p: &Platform) -> Self {
        let mut c = ImageConfig::empty();
        c.set_platform(p);
        c
    }

    /// The config of a folder given for an image (`--build-context <image>=<folder>`): the
    /// platform and an empty runtime config, as BuildKit's Dockerfile frontend gives a
    /// `FROM` of a folder context.
    pub fn folder(p: &Platform) -> Self {
        let mut c = ImageConfig::for_platform(p);
        c.config = Field::Set(RunConfig::default());
        c
    }

    /// The config of an image built on `base`: what the base says, but for what the
    /// exporter or the build sets anew.
    pub fn from_base(base: ImageConfig) -> Self {
        let mut c = base;
        // rootfs is recomputed by the exporter from the real layers.
        c.rest.remove("rootfs");
        // The base's creation time is not ours: without SOURCE_DATE_EPOCH the exporter
        // stamps the build time, as for a Dockerfile build.
        c.created = Field::Absent;
        c
    }

    /// An empty config (for targets built from scratch).
    pub fn empty() -> Self {
        ImageConfig::default()
    }

    fn run_config(&self) -> Option<&RunConfig> {
        self.config.get()
    }

    fn run_config_mut(&mut self) -> &mut RunConfig {
        if !matches!(self.config, Field::Set(_)) {
            self.config = Field::Set(RunConfig::default());
        }
        match &mut self.config {
            Field::Set(c) => c,
            _ => unreachable!("just set"),
        }
    }

    /// The `KEY=VALUE` list.
    pub fn env_list(&self) -> Vec<String> {
        self.run_config()
            .and_then(|c| c.env.get())
            .cloned()
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
        self.run_config_mut().env = Field::Set(list);
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

    /// The working folder (`WorkingDir`).
    pub fn working_dir(&self) -> Option<&str> {
        self.run_config()
            .and_then(|c| c.working_dir.get())
            .map(String::as_str)
    }

    /// Sets the working folder.
    pub fn set_working_dir(&mut self, dir: &str) {
        self.run_config_mut().working_dir = Field::Set(dir.to_string());
    }

    /// The user (`User`).
    pub fn user(&self) -> Option<&str> {
        self.run_config()
            .and_then(|c| c.user.get())
            .map(String::as_str)
    }

    /// Sets the user.
    pub fn set_user(&mut self, user: &str) {
        self.run_config_mut().user = Field::Set(user.to_string());
    }

    /// Sets `Entrypoint`; like Dockerfile's ENTRYPOINT it resets an inherited `Cmd`.
    pub fn set_entrypoint(&mut self, argv: &[String]) {
        let c = self.run_config_mut();
        c.entrypoint = Field::Set(argv.to_vec());
        c.cmd = Field::Absent;
    }

    /// Sets `Cmd`.
    pub fn set_cmd(&mut self, argv: &[String]) {
        self.run_config_mut().cmd = Field::Set(argv.to_vec());
    }

    /// Sets a label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let c = self.run_config_mut();
        if !matches!(c.labels, Field::Set(_)) {
            c.labels = Field::Set(BTreeMap::new());
        }
        if let Field::Set(labels) = &mut c.labels {
            labels.insert(key.into(), value.into());
        }
    }

    /// Sets os, architecture and variant.
    pub fn set_platform(&mut self, p: &Platform) {
        self.os = Field::Set(p.os.clone());
        self.architecture = Field::Set(p.arch.clone());
        self.variant = match &p.variant {
            Some(v) => Field::Set(v.clone()),
            None => Field::Absent,
        };
    }

    /// Appends history entries, one per new layer (`empty_layer` false) or config change.
    pub fn push_history(&mut self, created_by: &str, empty_layer: bool, created: Option<&str>) {
        let entry = History {
            created: created.map(str::to_string),
            created_by: Some(created_by.to_string()),
            comment: Some("aishell-frontend".into()),
            empty_layer: empty_layer.then_some(true),
            rest: BTreeMap::new(),
        };
        match &mut self.history {
            Field::Set(h) => h.push(entry),
            other => *other = Field::Set(vec![entry]),
        }
    }

    /// Sets the creation time (RFC 3339).
    pub fn set_created(&mut self, created: &str) {
        self.created = Field::Set(created.to_string());
    }

    /// Number of history entries that describe a layer.
    pub fn layer_history_len(&self) -> usize {
        self.history
            .get()
            .map(|h| h.iter().filter(|e| e.empty_layer != Some(true)).count())
            .unwrap_or(0)
    }

    /// The JSON value.
    pub fn to_json(&self) -> Value {
        // Serialising plain strings, lists and maps with string keys cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The JSON bytes for `containerimage.config`: keys sorted at every level (by way of
    /// [`Self::to_json`]), so the bytes, and the config's digest, depend on the content only.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
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
    use serde_json::json;

    fn config(v: Value) -> ImageConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn env_and_entrypoint() {
        let mut c = ImageConfig::from_base(config(json!({
            "config": {"Env": ["PATH=/usr/bin:/bin", "A=1"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers"}
        })));
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

    #[test]
    fn untouched_fields_are_written_back_as_they_came() {
        // What an older builder writes: nulls, fields this type does not name, history
        // entries with an author.
        let text = r#"{"architecture":"amd64","author":"someone","config":{"Cmd":null,"Entrypoint":null,"Env":["A=1"],"ExposedPorts":{"80/tcp":{}},"Labels":null,"OnBuild":null},"history":[{"author":"x","created_by":"/bin/sh"}],"os":"linux","os.version":"10","rootfs":{"diff_ids":[],"type":"layers"}}"#;
        let c = ImageConfig::parse(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(c.to_bytes()).unwrap(), text);
        // On the way to the image: rootfs and created go, the rest stays.
        let mut c = ImageConfig::from_base(c);
        c.set_env("B", "2");
        assert_eq!(
            c.to_json(),
            json!({"architecture":"amd64","author":"someone","config":{"Cmd":null,"Entrypoint":null,"Env":["A=1","B=2"],"ExposedPorts":{"80/tcp":{}},"Labels":null,"OnBuild":null},"history":[{"author":"x","created_by":"/bin/sh"}],"os":"linux","os.version":"10"})
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_an_error() {
        let e = ImageConfig::parse(br#"{"config":{"Env":"A=1"}}"#).unwrap_err();
        assert!(e.to_string().starts_with("config.Env: invalid type"), "{e}");
        let e = ImageConfig::parse(br#"{"os":"linux","architecture":7}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("architecture"), "{e}");
        let e = ImageConfig::parse(
            br#"{"history":[{"created_by":"a"},{"empty_layer":"yes","comment":"c"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("history[1].empty_layer"), "{e}");
        let e = ImageConfig::parse(br#"{"history":[{}, 3]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("history[1]"), "{e}");
        let e = ImageConfig::parse(br#"{"config":["Env"]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config"), "{e}");
        // Not an object, or not JSON: no field to name.
        let e = ImageConfig::parse(b"[]").unwrap_err();
        assert_eq!(e.field, None, "{e}");
        assert_eq!(ImageConfig::parse(b"{").unwrap_err().field, None);
    }

    #[test]
    fn a_label_on_a_null_label_map_makes_a_map() {
        let mut c = config(json!({"config": {"Labels": null}}));
        c.set_label("a", "b");
        assert_eq!(c.to_json()["config"]["Labels"], json!({"a": "b"}));
        assert_eq!(c.layer_history_len(), 0);
        c.push_history("x", false, None);
        c.push_history("y", true, None);
        assert_eq!(c.layer_history_len(), 1);
    }
}
