//! Request bodies in Kubernetes' protobuf encoding
//! (`application/vnd.kubernetes.protobuf`), which kubectl's typed clients
//! send: `kubectl create configmap|secret|serviceaccount`. The body is the
//! magic `k8s\0` and a `runtime.Unknown` (its `typeMeta` and the object's
//! own message in `raw`); the objects decoded here are ConfigMap, Secret
//! and ServiceAccount (and a Namespace's metadata), into the JSON the rest of the server reads (field
//! numbers from k8s.io/api's `generated.proto`). Other kinds get 415, and
//! responses are JSON, which those clients accept too.

use serde_json::{Map, Value, json};

use crate::Error;

/// The protobuf media type.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Whether `content_type` is the protobuf media type.
pub(crate) fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| t.split(';').next().unwrap_or_default().trim() == CONTENT_TYPE)
}

/// The JSON of a protobuf request body.
pub(crate) fn to_json(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = |why: &str| Error::BadRequest(format!("the request body is not a Kubernetes protobuf object: {why}"));
    let unknown = bytes.strip_prefix(b"k8s\0").ok_or_else(|| bad("no k8s magic"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for field in Fields(unknown) {
        match field.map_err(&bad)? {
            (1, Wire::Bytes(type_meta)) => {
                for f in Fields(type_meta) {
                    match f.map_err(&bad)? {
                        (1, Wire::Bytes(v)) => api_version = text(v).map_err(&bad)?,
                        (2, Wire::Bytes(v)) => kind = text(v).map_err(&bad)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(v)) => raw = v,
            _ => {}
        }
    }
    let mut object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => config_map(raw),
        ("v1", "Secret") => secret(raw),
        ("v1", "ServiceAccount") => service_account(raw),
        // Only its name matters: the server says why it is not created.
        ("v1", "Namespace") => Fields(raw)
            .filter_map(Result::ok)
            .find_map(|f| match f {
                (1, Wire::Bytes(v)) => Some(metadata(v).map(|m| [("metadata".to_owned(), m)].into_iter().collect())),
                _ => None,
            })
            .unwrap_or_else(|| Ok(Map::new())),
        _ => {
            return Err(Error::UnsupportedMediaType {
                message: format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf only for ConfigMaps, Secrets, ServiceAccounts and Namespaces, not {api_version} {kind})"),
            });
        }
    }
    .map_err(&bad)?;
    object.insert("apiVersion".into(), api_version.into());
    object.insert("kind".into(), kind.into());
    Ok(serde_json::to_vec(&object).expect("a JSON value serializes"))
}

/// A field's value by wire type.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a message: (number, value).
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let key = varint(&mut self.0)?;
            let value = match key & 7 {
                0 => Wire::Varint(varint(&mut self.0)?),
                2 => {
                    let len = usize::try_from(varint(&mut self.0)?).map_err(|_| "a length past the body")?;
                    if len > self.0.len() {
                        return Err("a length past the body");
                    }
                    let (v, rest) = self.0.split_at(len);
                    self.0 = rest;
                    Wire::Bytes(v)
                }
                1 | 5 => {
                    let n = if key & 7 == 1 { 8 } else { 4 };
                    if n > self.0.len() {
                        return Err("a fixed field past the body");
                    }
                    self.0 = &self.0[n..];
                    Wire::Fixed
                }
                _ => return Err("an unknown wire type"),
            };
            Ok((key >> 3, value))
        })();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}

fn varint(b: &mut &[u8]) -> Result<u64, &'static str> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first().ok_or("a varint past the body")?;
        *b = rest;
        out |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("a varint longer than 10 bytes")
}

fn text(b: &[u8]) -> Result<String, &'static str> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string that is not UTF-8")
}

fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A `map<string, V>` entry (key 1, value 2), the value as `value`.
fn entry(b: &[u8], value: impl Fn(&[u8]) -> Result<Value, &'static str>) -> Result<(String, Value), &'static str> {
    let (mut k, mut v) = (String::new(), value(&[])?);
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(x)) => k = text(x)?,
            (2, Wire::Bytes(x)) => v = value(x)?,
            _ => {}
        }
    }
    Ok((k, v))
}

fn string_value(b: &[u8]) -> Result<Value, &'static str> {
    text(b).map(Value::String)
}

fn bytes_value(b: &[u8]) -> Result<Value, &'static str> {
    Ok(Value::String(base64(b)))
}

/// Adds a map entry to `object[key]`.
fn add_entry(object: &mut Map<String, Value>, key: &str, (k, v): (String, Value)) {
    if let Value::Object(m) = object.entry(key.to_owned()).or_insert_with(|| json!({})) {
        m.insert(k, v);
    }
}

/// ObjectMeta: what a client sets on a new object.
fn metadata(b: &[u8]) -> Result<Value, &'static str> {
    let mut m = Map::new();
    for f in Fields(b) {
        match f? {
            // Strings are sent even when empty: an empty one is unset.
            (_, Wire::Bytes([])) => {}
            (1, Wire::Bytes(v)) => _ = m.insert("name".into(), string_value(v)?),
            (2, Wire::Bytes(v)) => _ = m.insert("generateName".into(), string_value(v)?),
            (3, Wire::Bytes(v)) => _ = m.insert("namespace".into(), string_value(v)?),
            (11, Wire::Bytes(v)) => add_entry(&mut m, "labels", entry(v, string_value)?),
            (12, Wire::Bytes(v)) => add_entry(&mut m, "annotations", entry(v, string_value)?),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn config_map(b: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let mut o = Map::new();
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(v)) => _ = o.insert("metadata".into(), metadata(v)?),
            (2, Wire::Bytes(v)) => add_entry(&mut o, "data", entry(v, string_value)?),
            (3, Wire::Bytes(v)) => add_entry(&mut o, "binaryData", entry(v, bytes_value)?),
            (4, Wire::Varint(v)) => _ = o.insert("immutable".into(), (v != 0).into()),
            _ => {}
        }
    }
    Ok(o)
}

fn secret(b: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let mut o = Map::new();
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(v)) => _ = o.insert("metadata".into(), metadata(v)?),
            (2, Wire::Bytes(v)) => add_entry(&mut o, "data", entry(v, bytes_value)?),
            (3, Wire::Bytes(v)) if !v.is_empty() => _ = o.insert("type".into(), string_value(v)?),
            (4, Wire::Bytes(v)) => add_entry(&mut o, "stringData", entry(v, string_value)?),
            (5, Wire::Varint(v)) => _ = o.insert("immutable".into(), (v != 0).into()),
            _ => {}
        }
    }
    Ok(o)
}

fn service_account(b: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let mut o = Map::new();
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(v)) => _ = o.insert("metadata".into(), metadata(v)?),
            (3, Wire::Bytes(v)) => {
                let mut name = String::new();
                for f in Fields(v) {
                    if let (1, Wire::Bytes(n)) = f? {
                        name = text(n)?;
                    }
                }
                if let Value::Array(a) = o.entry("imagePullSecrets").or_insert_with(|| json!([])) {
                    a.push(json!({ "name": name }));
                }
            }
            (4, Wire::Varint(v)) => _ = o.insert("automountServiceAccountToken".into(), (v != 0).into()),
            _ => {}
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a length-delimited field.
    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, n << 3 | 2);
        put_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
        out
    }

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [b"k8s\0".to_vec(), field(1, &type_meta), field(2, raw), field(4, b"application/vnd.kubernetes.protobuf")].concat()
    }

    #[test]
    fn a_config_map_as_kubectl_create_sends_it() {
        let meta = [field(1, b"settings"), field(2, b""), field(3, b"team"), field(11, &[field(1, b"app"), field(2, b"web")].concat())].concat();
        let data = |k: &[u8], v: &[u8]| field(2, &[field(1, k), field(2, v)].concat());
        let raw = [field(1, &meta), data(b"a", b"1"), data(b"b", b"2"), field(3, &[field(1, b"bin"), field(2, &[0, 255])].concat()), vec![4 << 3, 1]].concat();
        let json: Value = serde_json::from_slice(&to_json(&envelope("v1", "ConfigMap", &raw)).unwrap()).unwrap();
        assert_eq!(
            json,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "team", "labels": {"app": "web"}},
                "data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AP8="}, "immutable": true})
        );
    }

    #[test]
    fn a_secret_has_base64_data_and_its_type() {
        let raw = [field(1, &field(1, b"creds")), field(2, &[field(1, b"pw"), field(2, b"s3cret")].concat()), field(3, b"Opaque")].concat();
        let json: Value = serde_json::from_slice(&to_json(&envelope("v1", "Secret", &raw)).unwrap()).unwrap();
        assert_eq!(json["data"]["pw"], "czNjcmV0");
        assert_eq!(json["type"], "Opaque");
    }

    #[test]
    fn other_kinds_and_broken_bodies_are_refused() {
        assert!(matches!(to_json(&envelope("v1", "Pod", &[])), Err(Error::UnsupportedMediaType { .. })));
        assert!(matches!(to_json(b"{}"), Err(Error::BadRequest(_))));
        let mut cut = envelope("v1", "ConfigMap", &field(1, &field(1, b"x")));
        cut.truncate(cut.len() - 3);
        assert!(matches!(to_json(&cut), Err(Error::BadRequest(_))));
        assert!(matches!(to_json(&[b"k8s\0".as_slice(), &[0xff; 11]].concat()), Err(Error::BadRequest(_))));
    }
}
