//! The Gateway API CRDs the sandbox serves are the upstream ones (`../shared/fixtures/gateway-api`: v1.0.0 and
//! the v1.6.1 standard channel) with only the schema `description`s left out: the same versions, storage
//! version, printer columns, annotations, structural schemas, list types and CEL rules a real cluster gets
//! from `kubectl apply -f standard-install.yaml`. This test keeps the embedded copies equal to upstream;
//! `MESH_WRITE_CRDS=1 cargo test -p mesh-sandbox --test sandbox_crds` rewrites them from the fixtures.

use std::path::Path;

use mesh_sandbox::fixtures::shared_fixtures;
use mesh_sandbox::scenario::GatewayApiBundle;
use serde_json::Value;

/// Remove `description` from every schema node (never a property that happens to be named `description`).
fn strip_schema(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    obj.shift_remove("description");
    for (k, v) in obj.iter_mut() {
        match k.as_str() {
            "properties" => {
                if let Some(props) = v.as_object_mut() {
                    props.values_mut().for_each(strip_schema);
                }
            }
            "items" | "additionalProperties" | "not" => strip_schema(v),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(a) = v.as_array_mut() {
                    a.iter_mut().for_each(strip_schema);
                }
            }
            _ => {}
        }
    }
}

/// The CRDs of one upstream directory as the sandbox embeds them.
fn upstream(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for f in files {
        for doc in mesh_sandbox::parse_yaml_docs(&std::fs::read_to_string(&f).unwrap()).unwrap() {
            if doc["kind"] != "CustomResourceDefinition" {
                continue; // the ValidatingAdmissionPolicy of v1.6.1: not served by the sandbox
            }
            let mut crd = doc;
            if let Some(versions) = crd["spec"]["versions"].as_array_mut() {
                for v in versions {
                    strip_schema(&mut v["schema"]["openAPIV3Schema"]);
                }
            }
            crds.push(crd);
        }
    }
    crds
}

fn render(crds: &[Value]) -> String {
    let items: Vec<String> = crds.iter().map(|c| serde_json::to_string(c).unwrap()).collect();
    format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n{}\n]}}\n",
        items.join(",\n")
    )
}

#[test]
fn embedded_crds_are_upstream_without_descriptions() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (bundle, dir, file) in [
        (GatewayApiBundle::V1_0, "gateway-api", "gateway-api-v1.0.0.json"),
        (GatewayApiBundle::V1_6, "gateway-api/latest", "gateway-api-v1.6.1.json"),
    ] {
        let want = render(&upstream(&fixtures.join(dir)));
        if std::env::var("MESH_WRITE_CRDS").as_deref() == Ok("1") {
            std::fs::write(crate_dir.join("src/crds").join(file), &want).unwrap();
            continue;
        }
        let have = bundle.crds_json().unwrap();
        assert!(
            have == want,
            "src/crds/{file} differs from {dir} upstream; regenerate with MESH_WRITE_CRDS=1"
        );
    }
}
