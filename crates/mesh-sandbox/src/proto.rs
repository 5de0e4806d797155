//! Just enough Kubernetes protobuf decoding for the one request kubectl only sends as protobuf:
//! `kubectl auth can-i` creates a SelfSubjectAccessReview with `application/vnd.kubernetes.protobuf`.
//! (Envelope: magic `k8s\0`, then `runtime.Unknown{typeMeta, raw}`; `raw` is the typed message.)

use serde_json::{json, Value};

enum Field<'a> {
    Scalar,
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
                varint(buf, &mut pos)?;
                out.push((num, Field::Scalar));
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                out.push((num, Field::Bytes(buf.get(pos..end)?)));
                pos = end;
            }
            1 | 5 => {
                pos = pos.checked_add(if wire == 1 { 8 } else { 4 })?;
                out.push((num, Field::Scalar));
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
}
