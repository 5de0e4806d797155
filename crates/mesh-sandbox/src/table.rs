//! Server-side printing: `kubectl get` asks for `as=Table` and prints the columns the server sends, so the
//! sandbox answers tables with kubectl's usual columns for the kinds people look at in a demo
//! (pods, deployments, services, …) and NAME/AGE for the rest.

use serde_json::{json, Value};

use super::registry::ResourceType;

/// kubectl's `HumanDuration` (k8s.io/apimachinery/pkg/util/duration).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn age(obj: &Value, now: jiff::Timestamp) -> String {
    obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| human_duration(now.as_second() - t.as_second()))
        .unwrap_or_else(|| "<unknown>".into())
}

fn col(name: &str, ty: &str, priority: u8) -> Value {
    let mut c = json!({"name": name, "type": ty, "format": "", "description": name, "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn pod_cells(p: &Value) -> Vec<Value> {
    let containers = p["spec"]["containers"].as_array().map(Vec::len).unwrap_or(0)
        + p["spec"]["initContainers"]
            .as_array()
            .map(|cs| cs.iter().filter(|c| c["restartPolicy"] == "Always").count())
            .unwrap_or(0);
    let statuses: Vec<&Value> = p["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            p["status"]["initContainerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["state"]["running"].is_object()),
        )
        .collect();
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let restarts: i64 = statuses.iter().map(|s| int(&s["restartCount"])).sum();
    let status = if p["metadata"]["deletionTimestamp"].is_string() {
        "Terminating".to_string()
    } else {
        p["status"]["reason"]
            .as_str()
            .or_else(|| p["status"]["phase"].as_str())
            .unwrap_or("Pending")
            .to_string()
    };
    vec![json!(format!("{ready}/{containers}")), json!(status), json!(restarts)]
}

/// The values a printer-column JSONPath of a CRD selects: `.a.b`, `.a[*].b`, `.a[?(@.k=="v")].b` (the forms
/// CRDs use; kube-apiserver shows the first result).
fn json_path<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur = vec![obj];
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur.iter().filter_map(|v| v.get(key)).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[*]") {
            cur = cur.iter().flat_map(|v| v.as_array().into_iter().flatten()).collect();
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[?(@.") {
            let Some(close) = r.find(")]") else {
                return vec![];
            };
            let (cond, after) = (&r[..close], &r[close + 2..]);
            let Some((key, want)) = cond.split_once("==") else {
                return vec![];
            };
            let want = want.trim().trim_matches(['"', '\'']);
            cur = cur
                .iter()
                .flat_map(|v| v.as_array().into_iter().flatten())
                .filter(|x| x[key.trim()].as_str() == Some(want))
                .collect();
            rest = after;
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(close) = r.find(']') else {
                return vec![];
            };
            let Ok(i) = r[..close].parse::<usize>() else {
                return vec![];
            };
            cur = cur.iter().filter_map(|v| v.get(i)).collect();
            rest = &r[close + 1..];
        } else {
            return vec![];
        }
    }
    cur
}

/// A cell of a CRD printer column, as kube-apiserver's table convertor renders it.
fn printer_cell(obj: &Value, column: &Value, now: jiff::Timestamp) -> Value {
    let path = column["jsonPath"].as_str().unwrap_or_default();
    let Some(v) = json_path(obj, path).into_iter().next() else {
        return Value::Null;
    };
    match column["type"].as_str().unwrap_or("string") {
        "date" => v
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| json!(human_duration(now.as_second() - t.as_second())))
            .unwrap_or(Value::Null),
        "integer" | "number" | "boolean" => v.clone(),
        _ => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

/// `kubectl get endpointslices`' PORTS and ENDPOINTS cells: the first three, then `+ N more...`.
fn first_three(items: Vec<String>) -> String {
    if items.is_empty() {
        return "<unset>".into();
    }
    let n = items.len();
    let shown = items.into_iter().take(3).collect::<Vec<_>>().join(",");
    if n > 3 {
        format!("{shown} + {} more...", n - 3)
    } else {
        shown
    }
}

/// Convert a list (or one object) into a `meta.k8s.io/v1` Table.
pub fn to_table(rt: &ResourceType, data: &Value, now: jiff::Timestamp) -> Value {
    let items: Vec<&Value> = match data["items"].as_array() {
        Some(items) => items.iter().collect(),
        None => vec![data],
    };
    let printer_columns = rt
        .crd
        .as_ref()
        .map(|c| c.printer_columns.as_slice())
        .unwrap_or_default();
    if !printer_columns.is_empty() {
        return crd_table(printer_columns, data, &items, now);
    }
    let mut columns = vec![col("Name", "string", 0)];
    let extra: Vec<Value> = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => vec![
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
        ],
        ("apps", "Deployment") => vec![
            col("Ready", "string", 0),
            col("Up-to-date", "string", 0),
            col("Available", "string", 0),
        ],
        ("apps", "ReplicaSet") => vec![
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
        ],
        ("", "Service") => vec![
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
        ],
        ("", "Namespace") => vec![col("Status", "string", 0)],
        ("", "ConfigMap") => vec![col("Data", "integer", 0)],
        ("policy", "PodDisruptionBudget") => vec![
            col("Min Available", "string", 0),
            col("Max Unavailable", "string", 0),
            col("Allowed Disruptions", "integer", 0),
        ],
        ("discovery.k8s.io", "EndpointSlice") => vec![
            col("AddressType", "string", 0),
            col("Ports", "string", 0),
            col("Endpoints", "string", 0),
        ],
        _ => vec![],
    };
    columns.extend(extra);
    columns.push(col("Age", "string", 0));
    if rt.kind == "Pod" {
        columns.push(col("IP", "string", 1));
        columns.push(col("Node", "string", 1));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            match (rt.group.as_str(), rt.kind.as_str()) {
                ("", "Pod") => cells.extend(pod_cells(o)),
                ("apps", "Deployment") => {
                    let want = int(&o["spec"]["replicas"]);
                    cells.push(json!(format!("{}/{want}", int(&o["status"]["readyReplicas"]))));
                    cells.push(json!(int(&o["status"]["updatedReplicas"])));
                    cells.push(json!(int(&o["status"]["availableReplicas"])));
                }
                ("apps", "ReplicaSet") => {
                    cells.push(json!(int(&o["spec"]["replicas"])));
                    cells.push(json!(int(&o["status"]["replicas"])));
                    cells.push(json!(int(&o["status"]["readyReplicas"])));
                }
                ("", "Service") => {
                    let ty = o["spec"]["type"].as_str().unwrap_or("ClusterIP");
                    let external = o["status"]["loadBalancer"]["ingress"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|i| i["ip"].as_str().or(i["hostname"].as_str()))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| {
                            if ty == "LoadBalancer" {
                                "<pending>".into()
                            } else {
                                "<none>".into()
                            }
                        });
                    let ports = o["spec"]["ports"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_else(|| "<none>".into());
                    cells.push(json!(ty));
                    cells.push(json!(o["spec"]["clusterIP"].as_str().unwrap_or("<none>")));
                    cells.push(json!(external));
                    cells.push(json!(ports));
                }
                ("", "Namespace") => cells.push(json!(o["status"]["phase"].as_str().unwrap_or("Active"))),
                ("policy", "PodDisruptionBudget") => {
                    let shown = |v: &Value| match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => "N/A".into(),
                    };
                    cells.push(json!(shown(&o["spec"]["minAvailable"])));
                    cells.push(json!(shown(&o["spec"]["maxUnavailable"])));
                    cells.push(json!(int(&o["status"]["disruptionsAllowed"])));
                }
                ("discovery.k8s.io", "EndpointSlice") => {
                    let ports = o["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| p["port"].as_i64().map_or("<unset>".to_string(), |n| n.to_string()))
                        .collect();
                    let addresses = o["endpoints"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|e| e["addresses"].as_array().into_iter().flatten())
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect();
                    cells.push(json!(o["addressType"].as_str().unwrap_or_default()));
                    cells.push(json!(first_three(ports)));
                    cells.push(json!(first_three(addresses)));
                }
                ("", "ConfigMap") => cells.push(json!(
                    o["data"].as_object().map(|m| m.len()).unwrap_or(0)
                        + o["binaryData"].as_object().map(|m| m.len()).unwrap_or(0)
                )),
                _ => {}
            }
            cells.push(json!(age(o, now)));
            if rt.kind == "Pod" {
                cells.push(json!(o["status"]["podIP"].as_str().unwrap_or("<none>")));
                cells.push(json!(o["spec"]["nodeName"].as_str().unwrap_or("<none>")));
            }
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
            })
        })
        .collect();
    let mut metadata = json!({"resourceVersion": data["metadata"]["resourceVersion"]});
    if let Some(c) = data["metadata"]["continue"].as_str() {
        metadata["continue"] = json!(c);
    }
    let mut out = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
    });
    out["rows"] = Value::Array(rows);
    out
}

/// A table with a CRD's printer columns (NAME first, as kube-apiserver adds it).
fn crd_table(columns: &[Value], data: &Value, items: &[&Value], now: jiff::Timestamp) -> Value {
    let mut defs = vec![col("Name", "string", 0)];
    for c in columns {
        defs.push(json!({"name": c["name"], "type": c["type"], "format": c["format"].as_str().unwrap_or_default(),
            "description": format!("Custom resource definition column (in JSONPath format): {}", c["jsonPath"].as_str().unwrap_or_default()),
            "priority": c["priority"].as_i64().unwrap_or(0)}));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(columns.iter().map(|c| printer_cell(o, c, now)));
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
            })
        })
        .collect();
    let mut metadata = json!({"resourceVersion": data["metadata"]["resourceVersion"]});
    if let Some(c) = data["metadata"]["continue"].as_str() {
        metadata["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths() {
        let o = json!({"spec": {"hostnames": ["a", "b"], "c": "istio"},
            "status": {"addresses": [{"value": "1.2.3.4"}, {"value": "5.6.7.8"}],
                       "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "False"}]}});
        let now = jiff::Timestamp::UNIX_EPOCH;
        let cell = |path: &str, ty: &str| printer_cell(&o, &json!({"jsonPath": path, "type": ty}), now);
        // As kube-apiserver v1.37.2 renders HTTPRoute hostnames: the JSON array.
        assert_eq!(cell(".spec.hostnames", "string"), json!(r#"["a","b"]"#));
        assert_eq!(cell(".spec.c", "string"), json!("istio"));
        assert_eq!(cell(".status.addresses[*].value", "string"), json!("1.2.3.4"));
        assert_eq!(
            cell(r#".status.conditions[?(@.type=="Programmed")].status"#, "string"),
            json!("False")
        );
        assert_eq!(cell(".spec.missing", "string"), Value::Null);
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(60 * 45), "45m");
        assert_eq!(human_duration(3600 * 5 + 60 * 7), "5h7m");
        assert_eq!(human_duration(86400 * 3 + 3600 * 2), "3d2h");
        assert_eq!(human_duration(86400 * 30), "30d");
    }
}
