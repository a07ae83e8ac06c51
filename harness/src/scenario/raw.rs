//! The raw layer: the file as TOML gives it, every value with its span.
//!
//! Checking happens in three passes so that as many problems as possible are
//! reported together:
//! 1. [`strip_unknown_keys`] walks the parsed TOML tree, reports every
//!    unknown key (the known ones come from the raw structs below, so the
//!    two cannot drift) and removes it;
//! 2. serde fills the raw structs; only a value of the wrong TOML type stops
//!    here (serde cannot go on past one). Every key is optional at this
//!    level and integers are `i64`, so missing keys and out-of-range numbers
//!    are left to the next pass;
//! 3. `validate` turns raw structs into the typed model, collecting
//!    every remaining problem.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Problems, did_you_mean};

/// A value kept as TOML gave it, checked later (durations, toxic
/// attributes), so a wrong type is one more collected problem rather than
/// the end of checking.
pub(crate) type RawValue = Spanned<toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawScenario {
    pub drill: Option<Spanned<RawDrill>>,
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<RawService>>,
    #[serde(default)]
    pub proxies: BTreeMap<String, Spanned<RawProxy>>,
    pub workload: Option<Spanned<RawWorkload>>,
    pub variants: Option<Spanned<Vec<Spanned<RawVariant>>>>,
    pub steady: Option<Spanned<RawSteady>>,
    pub faults: Option<Spanned<Vec<Spanned<RawFault>>>>,
    pub expect: Option<Spanned<RawExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawDrill {
    pub name: Option<Spanned<String>>,
    pub playbook: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
    pub timeout: Option<RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawService {
    pub kind: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawProxy {
    pub upstream: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawWorkload {
    pub kind: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    pub clients: Option<Spanned<i64>>,
    pub send_every: Option<RawValue>,
    pub heartbeat: Option<RawValue>,
    pub pong_deadline: Option<RawValue>,
    pub backoff_base: Option<RawValue>,
    pub backoff_max: Option<RawValue>,
    pub connect_timeout: Option<RawValue>,
    pub max_attempts: Option<Spanned<i64>>,
    // pg-transfers (`target`, `backoff_base`, `backoff_max` and
    // `connect_timeout` are shared with ws-stream).
    pub accounts: Option<Spanned<i64>>,
    pub workers: Option<Spanned<i64>>,
    pub transfer_every: Option<RawValue>,
    pub pool_size: Option<Spanned<i64>>,
    pub acquire_timeout: Option<RawValue>,
    pub transfer_timeout: Option<RawValue>,
    pub retry_budget: Option<RawValue>,
    pub idle_threshold: Option<RawValue>,
    pub max_lifetime: Option<RawValue>,
    // Process drills (spawn-failure, agent-tree, agent-memory).
    pub failure: Option<Spanned<String>>,
    pub agents: Option<Spanned<i64>>,
    pub ignore_sigterm: Option<Spanned<bool>>,
    pub grandchildren: Option<Spanned<i64>>,
    pub daemons: Option<Spanned<i64>>,
    pub grace: Option<RawValue>,
    pub end: Option<Spanned<String>>,
    pub end_at: Option<RawValue>,
    pub leak_mib_per_sec: Option<Spanned<i64>>,
    pub sawtooth_peak_mib: Option<Spanned<i64>>,
    pub sawtooth_period: Option<RawValue>,
    pub sample_every: Option<RawValue>,
    pub window: Option<RawValue>,
    pub threshold_mib_per_sec: Option<Spanned<i64>>,
    pub observe: Option<RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawVariant {
    pub name: Option<Spanned<String>>,
    pub remedy: Option<Spanned<String>>,
    pub caught_by: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawSteady {
    pub probe_every: Option<RawValue>,
    pub consecutive: Option<Spanned<i64>>,
    pub timeout: Option<RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawFault {
    pub at: Option<RawValue>,
    pub proxy: Option<Spanned<String>>,
    pub toxic: Option<Spanned<RawToxic>>,
    pub down: Option<Spanned<bool>>,
    pub heal_after: Option<RawValue>,
    /// Container and client faults name a service instead of a proxy.
    pub service: Option<Spanned<String>>,
    pub container: Option<Spanned<String>>,
    pub leak_sessions: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawToxic {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub stream: Option<Spanned<String>>,
    pub toxicity: Option<Spanned<f64>>,
    pub attributes: Option<Spanned<BTreeMap<String, RawValue>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawExpect {
    pub detect_within: Option<RawValue>,
    pub recover_within: Option<RawValue>,
    pub invariants: Option<Spanned<Vec<Spanned<String>>>>,
    pub snapshot: Option<Spanned<bool>>,
}

/// Toxiproxy's toxic types and the attributes each takes, as `toxic.rs`
/// models them (a test checks the two agree).
pub(crate) const TOXIC_TYPES: &[(&str, &[&str])] = &[
    ("latency", &["latency", "jitter"]),
    ("bandwidth", &["rate"]),
    ("slow_close", &["delay"]),
    ("timeout", &["timeout"]),
    ("reset_peer", &["timeout"]),
    ("slicer", &["average_size", "size_variation", "delay"]),
    ("limit_data", &["bytes"]),
];

/// The attribute names of toxic type `kind`, if it is a known type.
pub(crate) fn toxic_attributes(kind: &str) -> Option<&'static [&'static str]> {
    TOXIC_TYPES
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, attributes)| *attributes)
}

/// Pass 1: reports every key no table of the format knows, and removes it so
/// that serde (pass 2) sees only known keys.
pub(crate) fn strip_unknown_keys(root: &mut DeTable<'_>, problems: &mut Problems<'_>) {
    check_table(root, keys_of::<RawScenario>(), "at the top level", problems);
    for (key, value) in root.iter_mut() {
        let key = key.get_ref().as_ref();
        match (key, value.get_mut()) {
            ("drill", DeValue::Table(t)) => {
                check_table(t, keys_of::<RawDrill>(), "[drill]", problems)
            }
            ("workload", DeValue::Table(t)) => {
                check_table(t, keys_of::<RawWorkload>(), "[workload]", problems);
            }
            ("steady", DeValue::Table(t)) => {
                check_table(t, keys_of::<RawSteady>(), "[steady]", problems);
            }
            ("expect", DeValue::Table(t)) => {
                check_table(t, keys_of::<RawExpect>(), "[expect]", problems);
            }
            ("services" | "proxies", DeValue::Table(named)) => {
                let keys = if key == "services" {
                    keys_of::<RawService>()
                } else {
                    keys_of::<RawProxy>()
                };
                for (name, entry) in named.iter_mut() {
                    if let DeValue::Table(t) = entry.get_mut() {
                        let context = format!("[{key}.{}]", name.get_ref());
                        check_table(t, keys, &context, problems);
                    }
                }
            }
            ("variants", DeValue::Array(items)) => {
                for item in items.iter_mut() {
                    if let DeValue::Table(t) = item.get_mut() {
                        check_table(t, keys_of::<RawVariant>(), "[[variants]]", problems);
                    }
                }
            }
            ("faults", DeValue::Array(items)) => {
                for item in items.iter_mut() {
                    if let DeValue::Table(t) = item.get_mut() {
                        check_fault(t, problems);
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_fault(fault: &mut DeTable<'_>, problems: &mut Problems<'_>) {
    check_table(fault, keys_of::<RawFault>(), "[[faults]]", problems);
    let Some(toxic) = fault.get_mut("toxic") else {
        return;
    };
    let DeValue::Table(toxic) = toxic.get_mut() else {
        return;
    };
    check_table(
        toxic,
        keys_of::<RawToxic>(),
        "the toxic of [[faults]]",
        problems,
    );
    let kind = toxic
        .get("type")
        .and_then(|t| t.get_ref().as_str())
        .map(str::to_owned);
    // An unknown `type` is reported in pass 3, with the list of valid ones;
    // its attributes cannot be judged.
    let Some((kind, known)) = kind.and_then(|k| toxic_attributes(&k).map(|a| (k, a))) else {
        return;
    };
    if let Some(attributes) = toxic.get_mut("attributes")
        && let DeValue::Table(attributes) = attributes.get_mut()
    {
        let context = format!("the attributes of a {kind} toxic");
        check_table(attributes, known, &context, problems);
    }
}

/// Reports and removes the keys of `table` that are not in `known`.
fn check_table(
    table: &mut DeTable<'_>,
    known: &[&str],
    context: &str,
    problems: &mut Problems<'_>,
) {
    let mut unknown = Vec::new();
    for key in table.keys() {
        let name = key.get_ref().as_ref();
        if known.contains(&name) {
            continue;
        }
        let help = match did_you_mean(name, known) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("remove `{name}`; {context} takes only the keys listed"),
        };
        problems.push(
            key.span(),
            format!(
                "unknown key {name:?} in {context}; expected one of: {}",
                known.join(", ")
            ),
            "unknown key",
            Some(help),
        );
        unknown.push(name.to_owned());
    }
    for name in unknown {
        table.remove(name.as_str());
    }
}

/// The keys a raw struct accepts, in declaration order, straight from its
/// `Deserialize` impl (so this list and the struct cannot disagree).
pub(crate) fn keys_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = FieldProbe { fields: &[] };
    // The probe always errors once it has seen the field list.
    let _ = T::deserialize(&mut probe);
    probe.fields
}

/// A deserializer that only records the field list a struct asks for.
struct FieldProbe {
    fields: &'static [&'static str],
}

impl<'de> serde::Deserializer<'de> for &mut FieldProbe {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only structs are probed"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.fields = fields;
        Err(serde::de::Error::custom("field list recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The dotted path of the deepest key whose key or value covers `span`
/// (e.g. `workload.clients`, `faults[1].toxic.attributes`), to say where a
/// serde type error happened.
pub(crate) fn key_path_at(root: &DeTable<'_>, span: &std::ops::Range<usize>) -> Option<String> {
    fn covers(outer: std::ops::Range<usize>, inner: &std::ops::Range<usize>) -> bool {
        outer.start <= inner.start && inner.end <= outer.end
    }
    fn in_value(value: &Spanned<DeValue<'_>>, span: &std::ops::Range<usize>, path: &mut String) {
        match value.get_ref() {
            DeValue::Table(table) => in_table(table, span, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut inner = String::new();
                    in_value(item, span, &mut inner);
                    if covers(item.span(), span) || !inner.is_empty() {
                        path.push_str(&format!("[{i}]{inner}"));
                        return;
                    }
                }
            }
            _ => {}
        }
    }
    fn in_table(table: &DeTable<'_>, span: &std::ops::Range<usize>, path: &mut String) {
        for (key, value) in table.iter() {
            let mut inner = String::new();
            in_value(value, span, &mut inner);
            if covers(key.span(), span) || covers(value.span(), span) || !inner.is_empty() {
                path.push('.');
                path.push_str(key.get_ref());
                path.push_str(&inner);
                return;
            }
        }
    }
    let mut path = String::new();
    in_table(root, span, &mut path);
    path.strip_prefix('.').map(str::to_owned)
}
