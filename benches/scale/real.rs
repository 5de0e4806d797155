//! `cargo bench --bench scale -- --real [--pods N] [--runs N] [--parallel N]`: the scale scenario on the real
//! control plane of e2e/controlplane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok)
//! instead of the sandbox. Manual only (it needs `e2e/controlplane/build.sh` and takes minutes).
//!
//! The scenario is built in the sandbox as usual, then its objects are created on the real server with
//! `kubectl create -f` (chunks of [`CHUNK`] objects, `--parallel` kubectl processes at once): CRDs, then
//! namespaces (waiting for their `default` ServiceAccount), then ServiceAccounts, ConfigMaps, Services,
//! Deployments, then the pods, then the custom resources (routes). What the real controllers make is left to
//! them: ReplicaSets are not copied, EndpointSlices come from the real EndpointSlice controller and the pods'
//! status from kwok (Running and Ready on the fake nodes this bench adds). So that the real controllers do not
//! fight the copied pods, the pods are bare (no ownerReferences: the garbage collector would delete pods whose
//! owner's uid does not exist on this server) and the Deployments are created paused (a paused Deployment
//! makes no ReplicaSet). Admission webhook configurations are not copied (nothing serves them here). Two
//! differences from the sandbox's scenario follow: pod start times are kwok's (now), so no sidecar is stale,
//! and recover finds no owner to restart.
//!
//! Each command then runs `--runs` times against the real server: `kubectl mesh doctor -A -o json`,
//! `kubectl mesh status -A -o json` and `kubectl get pods,services,endpointslices,configmaps,httproutes -A
//! -o json`. Reported per command: median wall and CPU time and peak RSS of the client (wait4), the LIST
//! requests and the bytes the server sent for them (deltas of kube-apiserver's own `apiserver_request_total`
//! and `apiserver_response_sizes_sum` metrics for verb LIST, read from /metrics around each run: other
//! clients — kwok, the controllers — watch rather than list), and the CPU time kube-apiserver and etcd spent
//! during the run (utime + stime from /proc/PID/stat).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mesh_sandbox::scale::ScaleScenario;
use mesh_sandbox::{ServerOptions, TestServer};
use serde_json::{json, Value};

use super::{median_of, mib, run_child, secs};

/// Objects per `kubectl create -f` file.
const CHUNK: usize = 250;
/// Fake nodes added for the pods (kwok manages them), pods assigned round-robin by `spec.nodeName`.
const NODES: usize = 20;

pub struct RealOptions {
    pub pods: usize,
    pub runs: usize,
    pub parallel: usize,
}

struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    token: String,
    apiserver_pid: u32,
    etcd_pid: u32,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start_controlplane(scratch: &Path) -> Result<ControlPlane, String> {
    let script = repo().join("e2e/controlplane/build.sh");
    let built = Command::new("bash")
        .arg(&script)
        .arg("--check")
        .status()
        .map_err(|e| e.to_string())?;
    if !built.success() {
        return Err("--real needs the real control plane: run e2e/controlplane/build.sh first".into());
    }
    let dir = scratch.join("controlplane");
    let out = Command::new("bash")
        .arg(repo().join("e2e/controlplane/start.sh"))
        .args(["up", "--no-state", "--dir"])
        .arg(&dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .env("MESH_SHARED_FIXTURES", repo().join("../shared/fixtures"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("e2e/controlplane/start.sh up failed".into());
    }
    let env = std::fs::read_to_string(dir.join("env")).map_err(|e| e.to_string())?;
    let server = env
        .lines()
        .find_map(|l| l.strip_prefix("MESH_CONTROLPLANE_API="))
        .ok_or("no API address in env")?
        .to_string();
    let kubeconfig = dir.join("kubeconfig");
    let token = std::fs::read_to_string(&kubeconfig)
        .map_err(|e| e.to_string())?
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: ").map(str::to_string))
        .ok_or("no token in the kubeconfig")?;
    let pids = std::fs::read_to_string(dir.join("pids")).map_err(|e| e.to_string())?;
    let pid_of = |name: &str| -> Result<u32, String> {
        pids.lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.ends_with(&format!("/{name}")))
            })
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .ok_or(format!("no {name} in {}/pids", dir.display()))
    };
    Ok(ControlPlane {
        apiserver_pid: pid_of("kube-apiserver")?,
        etcd_pid: pid_of("etcd")?,
        dir,
        kubeconfig,
        server,
        token,
    })
}

impl ControlPlane {
    fn kubectl(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kubectl-cache"))
            .args(args);
        c
    }

    fn kubectl_out(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .kubectl(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// kube-apiserver's /metrics (admin token).
    fn metrics(&self) -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(self.dir.join("pki/ca.crt"))
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(format!("{}/metrics", self.server))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("/metrics: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Sum of a metric's samples whose labels contain every one of `labels` (e.g. `verb="LIST"`).
fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// LIST requests and bytes served so far, from the server's own metrics.
fn list_counters(cp: &ControlPlane) -> Result<(f64, f64), String> {
    let m = cp.metrics()?;
    Ok((
        metric_sum(&m, "apiserver_request_total", &["verb=\"LIST\""]),
        metric_sum(&m, "apiserver_response_sizes_sum", &["verb=\"LIST\""]),
    ))
}

/// utime + stime of a process.
fn cpu_of(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        f[11].parse::<u64>().map_err(|e| e.to_string())? + f[12].parse::<u64>().map_err(|e| e.to_string())?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_micros(ticks * 1_000_000 / hz))
}

/// Peak RSS (VmHWM) of a process, KiB.
fn peak_rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// An object as the real server should get it: no server-set metadata, no status, no owners.
fn clean(mut obj: Value) -> Value {
    if let Some(m) = obj["metadata"].as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "ownerReferences",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.shift_remove(k);
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.shift_remove("status");
    }
    obj
}

/// What the sandbox's scale scenario holds, grouped in creation phases.
struct Export {
    crds: Vec<Value>,
    namespaces: Vec<Value>,
    objects: Vec<Value>,
    pods: Vec<Value>,
    custom: Vec<Value>,
}

fn export(server: &TestServer) -> Export {
    let types: Vec<(String, String, bool)> = server.with_store(|st| {
        let mut seen = Vec::new();
        for t in st.registry.types() {
            let key = (t.group.clone(), t.plural.clone(), t.crd.is_some());
            if !seen.contains(&key) {
                seen.push(key);
            }
        }
        seen
    });
    let mut ex = Export {
        crds: vec![],
        namespaces: vec![],
        objects: vec![],
        pods: vec![],
        custom: vec![],
    };
    // Made by the real controllers (or by the server itself), or served by nothing here.
    let skip = [
        "replicasets",
        "endpointslices",
        "endpoints",
        "events",
        "leases",
        "nodes",
        "controllerrevisions",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "selfsubjectaccessreviews",
        "tokenreviews",
        "subjectaccessreviews",
        "apiservices",
    ];
    let system_ns = |o: &Value| {
        let ns = o["metadata"]["namespace"]
            .as_str()
            .or(o["metadata"]["name"].as_str())
            .unwrap_or_default();
        ns == "default" || ns.starts_with("kube-")
    };
    let mut node = 0usize;
    for (group, plural, custom) in types {
        if skip.contains(&plural.as_str()) {
            continue;
        }
        let resource = if group.is_empty() {
            plural.clone()
        } else {
            format!("{plural}.{group}")
        };
        for obj in server.list(&resource, None) {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let mut obj = clean(obj);
            match plural.as_str() {
                "customresourcedefinitions" => ex.crds.push(obj),
                "namespaces" if !system_ns(&obj) => ex.namespaces.push(obj),
                "namespaces" => {}
                "pods" => {
                    // Bound to a fake node; the ServiceAccount admission adds the token volume itself.
                    obj["spec"]["nodeName"] = json!(format!("kwok-scale-{}", node % NODES));
                    node += 1;
                    if let Some(vols) = obj["spec"]["volumes"].as_array_mut() {
                        vols.retain(|v| !v["name"].as_str().unwrap_or_default().starts_with("kube-api-access"));
                    }
                    for list in ["containers", "initContainers"] {
                        for c in obj["spec"][list].as_array_mut().into_iter().flatten() {
                            if let Some(m) = c["volumeMounts"].as_array_mut() {
                                m.retain(|v| !v["name"].as_str().unwrap_or_default().starts_with("kube-api-access"));
                            }
                        }
                    }
                    ex.pods.push(obj);
                }
                "configmaps" if name == "kube-root-ca.crt" => {}
                "serviceaccounts" if name == "default" => {}
                "services" => {
                    if let Some(s) = obj["spec"].as_object_mut() {
                        s.shift_remove("clusterIP");
                        s.shift_remove("clusterIPs");
                    }
                    if !(system_ns(&obj) && name == "kubernetes") {
                        ex.objects.push(obj);
                    }
                }
                "deployments" => {
                    obj["spec"]["paused"] = json!(true);
                    ex.objects.push(obj);
                }
                _ if custom => ex.custom.push(obj),
                _ => ex.objects.push(obj),
            }
        }
    }
    ex
}

/// Create `objects` with `kubectl create -f` in chunks, `parallel` at a time; AlreadyExists is fine (objects
/// the server makes itself). Returns the wall time.
fn create_all(
    cp: &ControlPlane,
    scratch: &Path,
    what: &str,
    objects: &[Value],
    parallel: usize,
) -> Result<Duration, String> {
    let started = Instant::now();
    let chunks: Vec<PathBuf> = objects
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, c)| {
            let p = scratch.join(format!("{what}-{i}.json"));
            let list = json!({"apiVersion": "v1", "kind": "List", "items": c});
            std::fs::write(&p, list.to_string()).map(|()| p)
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let queue = std::sync::Mutex::new(chunks.into_iter());
    let errors = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| loop {
                let Some(file) = queue.lock().unwrap().next() else {
                    return;
                };
                let out = cp
                    .kubectl(&["create", "-o", "name", "-f"])
                    .arg(&file)
                    .stdin(Stdio::null())
                    .output();
                match out {
                    Ok(o) if o.status.success() => {}
                    Ok(o) => {
                        let text = String::from_utf8_lossy(&o.stderr).into_owned();
                        let bad: Vec<&str> = text
                            .lines()
                            .filter(|l| !l.contains("AlreadyExists") && !l.contains("already exists"))
                            .collect();
                        if !bad.is_empty() {
                            errors.lock().unwrap().push(bad.join("\n"));
                        }
                    }
                    Err(e) => errors.lock().unwrap().push(e.to_string()),
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        return Err(format!("creating {what}: {}", errors.join("\n")));
    }
    Ok(started.elapsed())
}

/// Poll `count` until it reaches `want` (or `limit` passes). Returns the time it took.
fn wait_for(
    what: &str,
    want: usize,
    limit: Duration,
    mut count: impl FnMut() -> Result<usize, String>,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        let n = count()?;
        if n >= want {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!("{what}: {n} of {want} after {}", secs(limit)));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

struct Row {
    label: String,
    walls: Vec<Duration>,
    cpus: Vec<Duration>,
    rss_kib: u64,
    lists: f64,
    bytes: f64,
    apiserver_cpu: Vec<Duration>,
    etcd_cpu: Vec<Duration>,
}

/// Build, load and measure; returns the Markdown report.
pub fn run(opts: &RealOptions, scratch: &Path) -> Result<String, String> {
    let server = TestServer::start(ServerOptions::default()).map_err(|e| format!("sandbox: {e}"))?;
    let summary = server
        .apply_scale(&ScaleScenario::pods(opts.pods))
        .map_err(|e| format!("scale scenario: {e}"))?;
    let ex = export(&server);
    drop(server);
    eprintln!(
        "bench --real: {} pods in {} namespaces, {} other objects, {} custom resources; starting the control plane",
        ex.pods.len(),
        ex.namespaces.len(),
        ex.objects.len(),
        ex.custom.len()
    );
    let cp = start_controlplane(scratch)?;
    let files = scratch.join("objects");
    std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
    let mut load = Vec::new();

    let nodes: Vec<Value> = (0..NODES)
        .map(|n| {
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("kwok-scale-{n}"),
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"kubernetes.io/hostname": format!("kwok-scale-{n}"), "type": "kwok"}},
                "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
                           "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"}}})
        })
        .collect();
    create_all(&cp, &files, "nodes", &nodes, 1)?;
    let t = create_all(&cp, &files, "crds", &ex.crds, 1)?;
    cp.kubectl_out(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"])?;
    load.push(("CRDs".to_string(), ex.crds.len(), t));
    let t = create_all(&cp, &files, "namespaces", &ex.namespaces, opts.parallel)?;
    let sa = wait_for(
        "default ServiceAccounts",
        ex.namespaces.len() + 4,
        Duration::from_secs(300),
        || {
            Ok(cp
                .kubectl_out(&[
                    "get",
                    "serviceaccounts",
                    "-A",
                    "--field-selector=metadata.name=default",
                    "-o",
                    "name",
                ])?
                .lines()
                .count())
        },
    )?;
    load.push((
        "namespaces (and their default ServiceAccount)".into(),
        ex.namespaces.len(),
        t + sa,
    ));
    let t = create_all(&cp, &files, "objects", &ex.objects, opts.parallel)?;
    load.push((
        "ServiceAccounts, ConfigMaps, Secrets, Services, Deployments…".into(),
        ex.objects.len(),
        t,
    ));
    eprintln!(
        "bench --real: creating {} pods, {} kubectl at once",
        ex.pods.len(),
        opts.parallel
    );
    let t = create_all(&cp, &files, "pods", &ex.pods, opts.parallel)?;
    load.push((
        format!("pods ({} objects a kubectl create -f)", CHUNK),
        ex.pods.len(),
        t,
    ));
    let want = ex.pods.len();
    let ready = wait_for("pods Running (kwok)", want, Duration::from_secs(1800), || {
        Ok(cp
            .kubectl_out(&[
                "get",
                "pods",
                "-A",
                "--field-selector=status.phase=Running",
                "-o",
                "name",
                "--chunk-size=2000",
            ])?
            .lines()
            .filter(|l| !l.is_empty())
            .count())
    })?;
    load.push(("until every pod is Running (kwok)".into(), want, ready));
    let t = create_all(&cp, &files, "custom", &ex.custom, opts.parallel)?;
    load.push(("custom resources (HTTPRoutes, …)".into(), ex.custom.len(), t));
    let services = ex.objects.iter().filter(|o| o["kind"] == "Service").count();
    let slices = wait_for("EndpointSlices", services, Duration::from_secs(600), || {
        Ok(cp
            .kubectl_out(&["get", "endpointslices", "-A", "-o", "name"])?
            .lines()
            .count())
    })?;
    load.push(("until every Service has an EndpointSlice".into(), services, slices));
    // Let the controllers settle (EndpointSlice updates as pods turn Ready).
    std::thread::sleep(Duration::from_secs(10));

    let plugin = super::plugin();
    let stderr = scratch.join("stderr.txt");
    let commands: Vec<(String, Vec<String>, bool, &[i32])> = vec![
        (
            "kubectl mesh doctor -A -o json".into(),
            vec!["doctor".into(), "-A".into(), "-o".into(), "json".into()],
            true,
            &[0, 1],
        ),
        (
            "kubectl mesh status -A -o json".into(),
            vec!["status".into(), "-A".into(), "-o".into(), "json".into()],
            true,
            &[0],
        ),
        (
            "kubectl get pods,services,endpointslices,configmaps,httproutes -A -o json".into(),
            [
                "get",
                "pods,services,endpointslices,configmaps,httproutes",
                "-A",
                "-o",
                "json",
            ]
            .map(String::from)
            .to_vec(),
            false,
            &[0],
        ),
    ];
    let mut rows = Vec::new();
    for (label, args, ours, ok) in commands {
        eprintln!("bench --real: {label}");
        let mut row = Row {
            label,
            walls: vec![],
            cpus: vec![],
            rss_kib: 0,
            lists: 0.0,
            bytes: 0.0,
            apiserver_cpu: vec![],
            etcd_cpu: vec![],
        };
        for _ in 0..opts.runs {
            let mut cmd = if ours {
                let mut c = Command::new(&plugin);
                c.args(&args)
                    .arg("--kubeconfig")
                    .arg(&cp.kubeconfig)
                    .env("NO_COLOR", "1");
                c
            } else {
                let mut c = Command::new("kubectl");
                c.arg("--kubeconfig").arg(&cp.kubeconfig).args(&args);
                c
            };
            let (l0, b0) = list_counters(&cp)?;
            let (a0, e0) = (cpu_of(cp.apiserver_pid)?, cpu_of(cp.etcd_pid)?);
            let r = run_child(&mut cmd, &stderr).map_err(|e| e.to_string())?;
            let (a1, e1) = (cpu_of(cp.apiserver_pid)?, cpu_of(cp.etcd_pid)?);
            let (l1, b1) = list_counters(&cp)?;
            if !ok.contains(&r.code) {
                return Err(format!(
                    "{}: exit {}\n{}",
                    row.label,
                    r.code,
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                ));
            }
            row.walls.push(r.wall);
            row.cpus.push(r.cpu);
            row.rss_kib = row.rss_kib.max(r.max_rss_kib);
            row.lists = l1 - l0;
            row.bytes = b1 - b0;
            row.apiserver_cpu.push(a1.saturating_sub(a0));
            row.etcd_cpu.push(e1.saturating_sub(e0));
        }
        rows.push(row);
    }

    let mut md = format!(
        "## Real control plane: {} pods in {} namespaces\n\nkube-apiserver v1.37.2 + etcd 3.7.0 + kube-controller-manager + kube-scheduler + kwok (e2e/controlplane), \
         {} Services, {} routes, {} runs per command (median; peak RSS the largest). LIST requests and bytes are the server's own metrics \
         (`apiserver_request_total`, `apiserver_response_sizes_sum`, verb LIST) around each run; API-server and etcd CPU from /proc/PID/stat.\n\n",
        ex.pods.len(),
        ex.namespaces.len(),
        summary.services,
        summary.routes,
        opts.runs
    );
    md.push_str("| command | wall | CPU | peak RSS | LISTs | bytes served | kube-apiserver CPU | etcd CPU |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for r in &rows {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {:.0} | {} | {} | {} |\n",
            r.label,
            secs(median_of(r.walls.clone())),
            secs(median_of(r.cpus.clone())),
            mib(r.rss_kib),
            r.lists,
            super::mb(r.bytes as u64),
            secs(median_of(r.apiserver_cpu.clone())),
            secs(median_of(r.etcd_cpu.clone())),
        ));
    }
    md.push_str(&format!(
        "\nkube-apiserver peak RSS (whole run, loading included): {}. Loading the scenario ({} kubectl create -f at once):\n\n| step | objects | wall |\n| --- | ---: | ---: |\n",
        mib(peak_rss_of(cp.apiserver_pid)),
        opts.parallel
    ));
    for (what, n, t) in &load {
        md.push_str(&format!("| {what} | {n} | {} |\n", secs(*t)));
    }
    Ok(md)
}
