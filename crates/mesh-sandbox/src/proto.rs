//! Just enough Kubernetes protobuf decoding for the requests kubectl only sends as protobuf: `kubectl auth
//! can-i` creates a SelfSubjectAccessReview, and kubectl's generators (`kubectl create namespace|configmap|
//! secret|serviceaccount|poddisruptionbudget`) send built-in kinds as `application/vnd.kubernetes.protobuf`
//! (client-go falls back to JSON after a 415 only for CBOR, so a server that cannot read these refuses them).
//! Envelope: magic `k8s\0`, then `runtime.Unknown{typeMeta, raw}`; `raw` is the typed message, decoded here
//! with the field numbers of k8s.io/api's `generated.proto` (v0.37.2) for those kinds.

use serde_json::{json, Value};

enum Field<'a> {
    Scalar(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Top-level fields of a protobuf message; `None` if it is malformed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(buf, &mut pos)?;
                out.push((num, Field::Scalar(v)));
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                out.push((num, Field::Bytes(buf.get(pos..end)?)));
                pos = end;
            }
            1 | 5 => {
                pos = pos.checked_add(if wire == 1 { 8 } else { 4 })?;
                out.push((num, Field::Scalar(0)));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn bytes_field<'a>(fs: &[(u64, Field<'a>)], n: u64) -> Option<&'a [u8]> {
    fs.iter().find_map(|(k, f)| match f {
        Field::Bytes(b) if *k == n => Some(*b),
        _ => None,
    })
}

fn string_field(fs: &[(u64, Field<'_>)], n: u64) -> String {
    bytes_field(fs, n)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Decode a protobuf-encoded SelfSubjectAccessReview into its JSON form.
pub fn decode_ssar(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let envelope = fields(unknown)?;
    let raw = bytes_field(&envelope, 2)?;
    let review = fields(raw)?;
    let spec = fields(bytes_field(&review, 2).unwrap_or_default())?;
    let mut out =
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": {}});
    if let Some(ra) = bytes_field(&spec, 1) {
        let ra = fields(ra)?;
        let names = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        let mut attrs = serde_json::Map::new();
        for (i, n) in names.iter().enumerate() {
            let v = string_field(&ra, i as u64 + 1);
            if !v.is_empty() {
                attrs.insert((*n).to_string(), json!(v));
            }
        }
        out["spec"]["resourceAttributes"] = Value::Object(attrs);
    }
    if let Some(nra) = bytes_field(&spec, 2) {
        let nra = fields(nra)?;
        out["spec"]["nonResourceAttributes"] = json!({"path": string_field(&nra, 1), "verb": string_field(&nra, 2)});
    }
    Some(out)
}

/// How a field of a message is read into JSON.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    /// `bytes`, as JSON does: base64.
    Bytes,
    IntOrString,
    Msg(&'static [(u64, &'static str, Ty)]),
    Repeated(&'static Ty),
    /// `map<string, V>`: repeated entries {key = 1, value = 2}.
    Map(&'static Ty),
}

const OWNER_REFERENCE: &[(u64, &str, Ty)] = &[
    (5, "apiVersion", Ty::Str),
    (1, "kind", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (6, "controller", Ty::Bool),
    (7, "blockOwnerDeletion", Ty::Bool),
];
const OBJECT_META: &[(u64, &str, Ty)] = &[
    (1, "name", Ty::Str),
    (2, "generateName", Ty::Str),
    (3, "namespace", Ty::Str),
    (5, "uid", Ty::Str),
    (6, "resourceVersion", Ty::Str),
    (11, "labels", Ty::Map(&Ty::Str)),
    (12, "annotations", Ty::Map(&Ty::Str)),
    (13, "ownerReferences", Ty::Repeated(&Ty::Msg(OWNER_REFERENCE))),
    (14, "finalizers", Ty::Repeated(&Ty::Str)),
];
const LABEL_SELECTOR_REQUIREMENT: &[(u64, &str, Ty)] = &[
    (1, "key", Ty::Str),
    (2, "operator", Ty::Str),
    (3, "values", Ty::Repeated(&Ty::Str)),
];
const LABEL_SELECTOR: &[(u64, &str, Ty)] = &[
    (1, "matchLabels", Ty::Map(&Ty::Str)),
    (
        2,
        "matchExpressions",
        Ty::Repeated(&Ty::Msg(LABEL_SELECTOR_REQUIREMENT)),
    ),
];
const NAMESPACE: &[(u64, &str, Ty)] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(&[(1, "finalizers", Ty::Repeated(&Ty::Str))])),
];
const PDB: &[(u64, &str, Ty)] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Ty::Msg(&[
            (1, "minAvailable", Ty::IntOrString),
            (2, "selector", Ty::Msg(LABEL_SELECTOR)),
            (3, "maxUnavailable", Ty::IntOrString),
            (4, "unhealthyPodEvictionPolicy", Ty::Str),
        ]),
    ),
];
const CONFIG_MAP: &[(u64, &str, Ty)] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (4, "immutable", Ty::Bool),
    (2, "data", Ty::Map(&Ty::Str)),
    (3, "binaryData", Ty::Map(&Ty::Bytes)),
];
const SECRET: &[(u64, &str, Ty)] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (5, "immutable", Ty::Bool),
    (2, "data", Ty::Map(&Ty::Bytes)),
    (4, "stringData", Ty::Map(&Ty::Str)),
    (3, "type", Ty::Str),
];
const SERVICE_ACCOUNT: &[(u64, &str, Ty)] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (4, "automountServiceAccountToken", Ty::Bool),
];

/// The schema of a kind kubectl sends as protobuf (`apiVersion`, `kind`).
fn schema_of(api_version: &str, kind: &str) -> Option<&'static [(u64, &'static str, Ty)]> {
    match (api_version, kind) {
        ("v1", "Namespace") => Some(NAMESPACE),
        ("v1", "ConfigMap") => Some(CONFIG_MAP),
        ("v1", "Secret") => Some(SECRET),
        ("v1", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("policy/v1", "PodDisruptionBudget") => Some(PDB),
        _ => None,
    }
}

fn value(ty: Ty, f: &Field<'_>) -> Option<Value> {
    Some(match (ty, f) {
        (Ty::Str, Field::Bytes(b)) => json!(String::from_utf8_lossy(b)),
        (Ty::Bytes, Field::Bytes(b)) => json!(crate::scenario::base64(b)),
        (Ty::Bool, Field::Scalar(v)) => json!(*v != 0),
        (Ty::IntOrString, Field::Bytes(b)) => {
            let fs = fields(b)?;
            let int = fs.iter().find_map(|(k, f)| match f {
                Field::Scalar(v) if *k == 2 => Some(*v as i32),
                _ => None,
            });
            let is_string = fs.iter().any(|(k, f)| matches!(f, Field::Scalar(1) if *k == 1));
            if is_string {
                json!(string_field(&fs, 3))
            } else {
                json!(int.unwrap_or(0))
            }
        }
        (Ty::Msg(schema), Field::Bytes(b)) => message(schema, b)?,
        _ => return None,
    })
}

/// A message as JSON, its fields in the schema's order (repeated and map fields gathered).
fn message(schema: &[(u64, &str, Ty)], buf: &[u8]) -> Option<Value> {
    let fs = fields(buf)?;
    let mut out = serde_json::Map::new();
    for (num, name, ty) in schema {
        let mut here = fs.iter().filter(|(k, _)| k == num).map(|(_, f)| f);
        match ty {
            Ty::Repeated(item) => {
                let items: Option<Vec<Value>> = here.map(|f| value(**item, f)).collect();
                let items = items?;
                if !items.is_empty() {
                    out.insert((*name).to_string(), Value::Array(items));
                }
            }
            Ty::Map(v) => {
                let mut map = serde_json::Map::new();
                for f in here {
                    let Field::Bytes(entry) = f else {
                        return None;
                    };
                    let e = fields(entry)?;
                    let val = e
                        .iter()
                        .find(|(k, _)| *k == 2)
                        .map(|(_, f)| value(**v, f))
                        .unwrap_or_else(|| Some(json!("")))?;
                    map.insert(string_field(&e, 1), val);
                }
                if !map.is_empty() {
                    out.insert((*name).to_string(), Value::Object(map));
                }
            }
            _ => {
                if let Some(f) = here.next_back() {
                    out.insert((*name).to_string(), value(*ty, f)?);
                }
            }
        }
    }
    Some(Value::Object(out))
}

/// Decode a protobuf body of one of the built-in kinds kubectl's generators create; `None` when the envelope
/// is malformed or the kind is not one of them.
pub fn decode_object(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let envelope = fields(unknown)?;
    let type_meta = fields(bytes_field(&envelope, 1)?)?;
    let (api_version, kind) = (string_field(&type_meta, 1), string_field(&type_meta, 2));
    let schema = schema_of(&api_version, &kind)?;
    let mut obj = message(schema, bytes_field(&envelope, 2)?)?;
    let Value::Object(fields) = &mut obj else {
        return None;
    };
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!(kind));
    out.append(fields);
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(n: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2, b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn decodes_a_can_i_review() {
        let ra = [
            ld(1, b"istio-demo"),
            ld(2, b"patch"),
            ld(3, b"gateway.networking.k8s.io"),
            ld(5, b"httproutes"),
        ]
        .concat();
        let spec = ld(1, &ra);
        let review = [ld(1, b""), ld(2, &spec)].concat();
        let type_meta = [ld(1, b"authorization.k8s.io/v1"), ld(2, b"SelfSubjectAccessReview")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, &review)].concat();
        let v = decode_ssar(&body).unwrap();
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "patch");
        assert_eq!(v["spec"]["resourceAttributes"]["resource"], "httproutes");
        assert_eq!(v["spec"]["resourceAttributes"]["namespace"], "istio-demo");
        assert!(decode_ssar(b"k8s\0\xff\xff").is_none());
    }

    fn varint_of(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn envelope(api_version: &[u8], kind: &[u8], raw: &[u8]) -> Vec<u8> {
        let type_meta = [ld(1, api_version), ld(2, kind)].concat();
        [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, raw)].concat()
    }

    #[test]
    fn decodes_what_kubectl_create_namespace_and_pdb_send() {
        let meta = [ld(1, b"pdbt"), ld(11, &[ld(1, b"team"), ld(2, b"mesh")].concat())].concat();
        let ns = envelope(b"v1", b"Namespace", &[ld(1, &meta), ld(2, b""), ld(3, b"")].concat());
        assert_eq!(
            decode_object(&ns).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "pdbt", "labels": {"team": "mesh"}}, "spec": {}})
        );
        // kubectl create pdb solo --selector=app=solo --min-available=0: minAvailable an int 0.
        let min = [[0x08].to_vec(), varint_of(0), [0x10].to_vec(), varint_of(0)].concat();
        let selector = ld(1, &[ld(1, b"app"), ld(2, b"solo")].concat());
        let spec = [ld(1, &min), ld(2, &selector)].concat();
        let pdb = envelope(
            b"policy/v1",
            b"PodDisruptionBudget",
            &[ld(1, &ld(1, b"solo")), ld(2, &spec)].concat(),
        );
        assert_eq!(
            decode_object(&pdb).unwrap(),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "solo"},
                "spec": {"minAvailable": 0, "selector": {"matchLabels": {"app": "solo"}}}})
        );
        // --max-unavailable=50%: a string.
        let max = [[0x08].to_vec(), varint_of(1), ld(3, b"50%")].concat();
        let pdb = envelope(
            b"policy/v1",
            b"PodDisruptionBudget",
            &[ld(1, &ld(1, b"half")), ld(2, &ld(3, &max))].concat(),
        );
        assert_eq!(decode_object(&pdb).unwrap()["spec"]["maxUnavailable"], "50%");
        assert!(decode_object(&envelope(b"v1", b"Pod", b"")).is_none());
    }
}
