//! The shape of list answers on the wire, and the one lenient way to decode them.
//!
//! Every LIST page is decoded straight into the small shape a reader needs (unknown fields skipped without
//! allocating). Real servers and proxies sometimes send `null` where an object or list belongs, which a typed
//! decode refuses; then, and only then, the page is parsed generically and each item is read on its own (see
//! [`decode_page`] and [`decode_item`]), so one odd item never costs the whole list. Pure: bytes in, values out.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// The `metadata` of a list page: what pagination needs.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ListMeta {
    #[serde(rename = "resourceVersion", deserialize_with = "null_as_default")]
    pub resource_version: String,
    #[serde(rename = "continue", deserialize_with = "null_as_default")]
    pub continue_token: String,
}

/// `null` (which some servers send for empty values) decodes as the default.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One list page decoded with items of type `T` (unknown fields skipped without allocating).
#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub struct Page<T> {
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: ListMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<T>,
}

/// Decode one list page into `out`: in one pass straight into the shape `R`, each item turned into a `T` by
/// `convert`. When the page does not fit `R` (a `null` where an object belongs, one malformed item), it is
/// parsed generically and each item is handed to `fallback` instead, which may skip it (`None`). Fails only
/// when the page is not a JSON list object at all.
pub fn decode_page<R, T>(
    body: &[u8],
    out: &mut Vec<T>,
    convert: impl FnMut(R) -> T,
    fallback: impl FnMut(&Value) -> Option<T>,
) -> Result<ListMeta, serde_json::Error>
where
    R: DeserializeOwned,
{
    if let Ok(page) = serde_json::from_slice::<Page<R>>(body) {
        out.extend(page.items.into_iter().map(convert));
        return Ok(page.metadata);
    }
    let page: Page<Value> = serde_json::from_slice(body)?;
    out.reserve(page.items.len());
    out.extend(page.items.iter().filter_map(fallback));
    Ok(page.metadata)
}

/// Decode one item into `R`; when that fails and the item holds `null`s (which mean "absent" in the Kubernetes
/// API), once more without them.
pub fn decode_item<R: DeserializeOwned>(item: &Value) -> Result<R, serde_json::Error> {
    R::deserialize(item).or_else(|e| {
        let mut cleaned = item.clone();
        if strip_nulls(&mut cleaned) {
            R::deserialize(&cleaned)
        } else {
            Err(e)
        }
    })
}

/// Remove `null` members and array elements, recursively; true when something was removed.
fn strip_nulls(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|_, x| !x.is_null());
            let mut changed = map.len() != before;
            for x in map.values_mut() {
                changed |= strip_nulls(x);
            }
            changed
        }
        Value::Array(items) => {
            let before = items.len();
            items.retain(|x| !x.is_null());
            let mut changed = items.len() != before;
            for x in items.iter_mut() {
                changed |= strip_nulls(x);
            }
            changed
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Slim {
        name: String,
        #[serde(default)]
        ports: Vec<u16>,
    }

    #[test]
    fn a_page_that_fits_is_decoded_in_one_pass() {
        let mut out = Vec::new();
        let meta = decode_page(
            br#"{"metadata":{"continue":"c"},"items":[{"name":"a","ports":[80]}]}"#,
            &mut out,
            |s: Slim| s.name,
            |_| Some("fallback".to_string()),
        )
        .unwrap();
        assert_eq!(out, ["a"]);
        assert_eq!(meta.continue_token, "c");
    }

    #[test]
    fn a_page_with_nulls_falls_back_per_item() {
        let mut out = Vec::new();
        let body = br#"{"metadata":null,"items":[{"name":"a","ports":null},{"name":7}]}"#;
        let meta = decode_page(body, &mut out, |s: Slim| Ok(s), |v| Some(decode_item::<Slim>(v))).unwrap();
        assert_eq!(meta, ListMeta::default());
        assert_eq!(
            out[0].as_ref().unwrap(),
            &Slim {
                name: "a".into(),
                ports: vec![]
            }
        );
        assert!(out[1].is_err(), "a malformed item is that item's error, not the page's");
        assert!(decode_page(b"not json", &mut out, |s: Slim| Ok(s), |_| None).is_err());
    }
}
