//! `labelSelector` and `fieldSelector` of list and watch requests, pure,
//! with the grammar of apimachinery's `labels.Parse` and `fields`:
//! label requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
//! `k`, `!k`, `k>n`, `k<n`, joined by commas; field terms `f=v`, `f==v`,
//! `f!=v` over the fields kube-apiserver selects by.

use serde_json::Value;

use crate::Error;

/// One label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed `labelSelector`; empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

/// The requirements of `selector`: split at commas outside parentheses.
fn terms(selector: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&selector[start..]);
    out.into_iter().map(str::trim).collect()
}

/// A label key or value: what a label may hold (values may be empty).
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

impl LabelSelector {
    pub(crate) fn parse(selector: &str) -> Result<Self, Error> {
        let mut reqs = Vec::new();
        if selector.trim().is_empty() {
            return Ok(Self(reqs));
        }
        for term in terms(selector) {
            reqs.push(requirement(term).ok_or_else(|| Error::BadRequest(format!("unable to parse requirement: {term:?}: not a label selector requirement")))?);
        }
        Ok(Self(reqs))
    }

    /// Whether labels (looked up by `label`) meet every requirement.
    pub(crate) fn selects<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
            Requirement::GreaterThan(k, n) => label(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => label(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l < *n),
        })
    }

    /// Whether `pod`'s labels match.
    pub(crate) fn selects_pod(&self, pod: &k8s_openapi::api::core::v1::Pod) -> bool {
        let labels = pod.metadata.labels.as_ref();
        self.selects(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
    }

    /// Whether an object's labels (`metadata.labels`) match.
    pub(crate) fn selects_value(&self, object: &Value) -> bool {
        self.selects(|k| object.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str))
    }
}

fn requirement(term: &str) -> Option<Requirement> {
    let key_ok = |k: &str| !k.is_empty() && plain(k);
    if let Some(k) = term.strip_prefix('!') {
        let k = k.trim();
        return key_ok(k).then(|| Requirement::NotExists(k.to_owned()));
    }
    for (op, make) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((k, v)) = term.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            if !key_ok(k) {
                return None;
            }
            return match make {
                0 if plain(v) => Some(Requirement::NotEquals(k.into(), v.into())),
                1 if plain(v) => Some(Requirement::Equals(k.into(), v.into())),
                2 => v.parse().ok().map(|n| Requirement::GreaterThan(k.into(), n)),
                3 => v.parse().ok().map(|n| Requirement::LessThan(k.into(), n)),
                _ => None,
            };
        }
    }
    // `k in (a,b)`, `k notin (a,b)`, or `k`.
    let mut words = term.splitn(2, char::is_whitespace);
    let k = words.next()?.trim();
    let Some(rest) = words.next().map(str::trim) else {
        return key_ok(k).then(|| Requirement::Exists(k.to_owned()));
    };
    let (notin, list) = if let Some(l) = rest.strip_prefix("notin") { (true, l) } else { (false, rest.strip_prefix("in")?) };
    let inner = list.trim().strip_prefix('(')?.strip_suffix(')')?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
    if !key_ok(k) || values.iter().any(|v| !plain(v)) {
        return None;
    }
    Some(if notin { Requirement::NotIn(k.into(), values) } else { Requirement::In(k.into(), values) })
}

/// One `fieldSelector` term: the field, whether it must equal, the value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed `fieldSelector`; empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<FieldTerm>);

/// The pod fields kube-apiserver selects by, and where they are.
const POD_FIELDS: [(&str, &str); 10] = [
    ("metadata.name", "/metadata/name"),
    ("metadata.namespace", "/metadata/namespace"),
    ("spec.nodeName", "/spec/nodeName"),
    ("spec.restartPolicy", "/spec/restartPolicy"),
    ("spec.schedulerName", "/spec/schedulerName"),
    ("spec.serviceAccountName", "/spec/serviceAccountName"),
    ("spec.hostNetwork", "/spec/hostNetwork"),
    ("status.phase", "/status/phase"),
    ("status.podIP", "/status/podIP"),
    ("status.nominatedNodeName", "/status/nominatedNodeName"),
];

/// What every kind selects by.
const OBJECT_FIELDS: [(&str, &str); 2] = [("metadata.name", "/metadata/name"), ("metadata.namespace", "/metadata/namespace")];

/// The kinds a field selector applies to.
#[derive(Clone, Copy)]
pub(crate) enum Fields {
    Pods,
    /// Events also select by the object they are about.
    Events,
    Objects,
}

impl Fields {
    fn pointer(self, field: &str) -> Option<String> {
        let known: &[(&str, &str)] = match self {
            Fields::Pods => &POD_FIELDS,
            Fields::Objects => &OBJECT_FIELDS,
            Fields::Events => {
                if let Some(rest) = field.strip_prefix("involvedObject.") {
                    return Some(format!("/involvedObject/{rest}"));
                }
                if matches!(field, "reason" | "type" | "source") {
                    return Some(format!("/{field}"));
                }
                &OBJECT_FIELDS
            }
        };
        known.iter().find(|(f, _)| *f == field).map(|(_, p)| (*p).to_owned())
    }
}

impl FieldSelector {
    pub(crate) fn parse(selector: &str, fields: Fields) -> Result<Self, Error> {
        let mut out = Vec::new();
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v.strip_prefix('=').unwrap_or(v))
            } else {
                return Err(Error::BadRequest(format!("invalid selector: '{selector}'; can't understand '{term}'")));
            };
            if fields.pointer(field).is_none() {
                return Err(Error::BadRequest(format!("field label not supported: {field}")));
            }
            out.push(FieldTerm { field: field.to_owned(), equal, value: value.to_owned() });
        }
        Ok(Self(out))
    }

    /// The object name an `involvedObject.name=` term asks for (Events).
    pub(crate) fn involved_name(&self) -> Option<&str> {
        self.0.iter().find(|t| t.field == "involvedObject.name" && t.equal).map(|t| t.value.as_str())
    }

    /// The name a `metadata.name=` term asks for, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.0.iter().find(|t| t.field == "metadata.name" && t.equal).map(|t| t.value.as_str())
    }

    /// Whether `object` (as JSON) meets every term; a missing field is
    /// the empty string, and booleans compare as `true`/`false`.
    pub(crate) fn selects(&self, object: &Value, fields: Fields) -> bool {
        self.0.iter().all(|t| {
            let at = fields.pointer(&t.field).and_then(|p| object.pointer(&p).cloned());
            let actual = match at {
                Some(Value::String(s)) => s,
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ if t.field == "spec.hostNetwork" => "false".into(),
                _ => String::new(),
            };
            (actual == t.value) == t.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<&'static str> {
        let owned: Vec<(String, &'static str)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), &*Box::leak((*v).to_owned().into_boxed_str()))).collect();
        move |k: &str| owned.iter().find(|(key, _)| key == k).map(|(_, v)| *v)
    }

    #[test]
    fn set_based_and_equality_requirements_select_as_kubernetes_does() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("rank", "3")]);
        let db = labels(&[("app", "db")]);
        let sel = |s: &str| LabelSelector::parse(s).unwrap();
        assert!(sel("").selects(&web));
        assert!(sel("app=web,tier==front").selects(&web));
        assert!(sel("app in (web, db)").selects(&web) && sel("app in (web, db)").selects(&db));
        assert!(!sel("app notin (web)").selects(&web) && sel("app notin (web)").selects(&db));
        assert!(sel("tier").selects(&web) && !sel("tier").selects(&db));
        assert!(sel("!tier").selects(&db) && !sel("!tier").selects(&web));
        assert!(sel("tier!=back").selects(&db), "!= selects objects without the label");
        assert!(sel("rank>2,rank<4").selects(&web) && !sel("rank>3").selects(&web));
        assert!(sel("app in (web,db),tier notin (back)").selects(&web));
        for bad in ["app in web", "a b c", "=x", "app=(x)", "rank>x", "app in (web"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_select_pods_by_phase_name_and_node() {
        let pod = serde_json::json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let sel = |s: &str| FieldSelector::parse(s, Fields::Pods).unwrap();
        assert!(sel("status.phase=Running,metadata.name==web").selects(&pod, Fields::Pods));
        assert!(!sel("status.phase!=Running").selects(&pod, Fields::Pods));
        assert!(sel("spec.nodeName=n1,spec.hostNetwork=false").selects(&pod, Fields::Pods));
        assert_eq!(sel("metadata.name=web").name(), Some("web"));
        let e = FieldSelector::parse("spec.containers=x", Fields::Pods).unwrap_err().to_string();
        assert_eq!(e, "field label not supported: spec.containers");
        assert!(FieldSelector::parse("status.phase=Running", Fields::Objects).is_err(), "only pods select by phase");
    }
}
