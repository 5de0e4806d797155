//! The scale benchmark: `cargo bench --bench scale -- [--pods 1000,10000,50000] [--runs 5] [--out DIR]
//! [--kubectl-up-to PODS] [--serve]`.
//!
//! For each size it starts the sandbox API server in this process, fills it with the scale scenario
//! (`sandbox::scale`), and runs, as separate processes against it through a kubeconfig:
//! `doctor -A -o json`, `status -A -o json`, `recover -A --dry-run=client -o json`, `shift`, and the reference a
//! user would otherwise reach for, `kubectl get pods,services,endpointslices,configmaps,httproutes -A -o json`
//! (skipped above `--kubectl-up-to` pods: at 50,000 pods kubectl needs about 10 GB). For each it reports the
//! median wall time and CPU time, the API requests made and the bytes the server sent (from the server's request
//! log), and the peak RSS of the process (from `wait4`). It also measures transfer floors: a bare HTTP client
//! that downloads a command's paginated lists (doctor's, status's, kubectl's), 8 at a time, and discards the
//! bytes without decoding them; each command is compared with the floor of its own lists. And cold start:
//! `kubectl-mesh --help` against `kubectl version --client`. With several sizes, a growth table says whether
//! time stays linear and memory sublinear.
//!
//! Results are printed as tables and written to `<out>/scale.md` and `<out>/scale.json` (default out:
//! `target/mesh-bench`). The plugin measured is the one cargo built for this bench (release settings), or
//! `MESH_BENCH_BIN`. `--serve` only builds the first size's scenario and serves it, printing a kubeconfig, for
//! profiling by hand (`valgrind --tool=massif`, `perf record`).
//!
//! `--real [--parallel N]` runs the first size on the real control plane of e2e/controlplane instead (see
//! scale/real.rs; manual: it needs `e2e/controlplane/build.sh`) and writes `<out>/scale-real.md`.

// `wait4` is the one way to read a child's own peak RSS; it is the only unsafe code, and only in this bench.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesh_core::doctor::Kind;
use mesh_sandbox::scale::{ScaleScenario, ScaleSummary};
use mesh_sandbox::{sequential_round_trips, Fault, ServerOptions, TestServer};
use serde_json::{json, Value};

#[path = "scale/real.rs"]
mod real;

const PAGE: usize = 500;
const PARALLEL_LISTS: usize = 8;

struct Options {
    pods: Vec<usize>,
    runs: usize,
    out: PathBuf,
    kubectl_up_to: usize,
    /// Only build the first size's scenario, print its kubeconfig and keep serving (for profiling by hand).
    serve: bool,
    /// Run the first size on the real control plane (e2e/controlplane) instead of the sandbox.
    real: bool,
    /// `kubectl create -f` processes at once when loading the real control plane.
    parallel: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        pods: vec![10_000],
        runs: 5,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/mesh-bench"),
        kubectl_up_to: usize::MAX,
        serve: false,
        real: false,
        parallel: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--pods" => {
                opts.pods = value("--pods")?
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .replace('_', "")
                            .parse::<usize>()
                            .map_err(|e| format!("--pods: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--runs" => opts.runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--out" => opts.out = PathBuf::from(value("--out")?),
            "--kubectl-up-to" => {
                opts.kubectl_up_to = value("--kubectl-up-to")?
                    .parse()
                    .map_err(|e| format!("--kubectl-up-to: {e}"))?
            }
            "--serve" => opts.serve = true,
            "--real" => opts.real = true,
            "--parallel" => opts.parallel = value("--parallel")?.parse().map_err(|e| format!("--parallel: {e}"))?,
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "-h" | "--help" => {
                println!("usage: cargo bench --bench scale -- [--pods 1000,10000,50000] [--runs N] [--out DIR] [--kubectl-up-to PODS] [--serve] [--real [--parallel N]]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if opts.runs == 0 || opts.pods.is_empty() {
        return Err("--runs and --pods must not be empty".into());
    }
    Ok(opts)
}

fn plugin() -> PathBuf {
    std::env::var_os("MESH_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kubectl-mesh")))
}

/// One finished child: wall time, peak RSS (KiB), exit code.
struct ChildRun {
    wall: Duration,
    /// User + system CPU time of the child.
    cpu: Duration,
    max_rss_kib: u64,
    code: i32,
}

/// Where children are started. A child's peak RSS (`ru_maxrss`) starts from the RSS of the process that spawned
/// it, so children are not spawned from this process, which holds the whole sandbox (GBs at 50,000 pods), but
/// from a small copy of this binary started first (`--spawner`), which runs each command it reads on stdin.
struct Spawner {
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    _child: std::process::Child,
}

static SPAWNER: Mutex<Option<Spawner>> = Mutex::new(None);

fn start_spawner() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("--spawner")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawner: {e}"))?;
    let input = child.stdin.take().expect("piped");
    let output = std::io::BufReader::new(child.stdout.take().expect("piped"));
    *SPAWNER.lock().unwrap() = Some(Spawner {
        input,
        output,
        _child: child,
    });
    Ok(())
}

/// The spawner's loop: one JSON command per line in, one JSON result per line out.
fn spawner_main() -> Result<(), String> {
    use std::io::BufRead;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let req: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(req["program"].as_str().unwrap_or_default());
        for a in req["args"].as_array().into_iter().flatten() {
            cmd.arg(a.as_str().unwrap_or_default());
        }
        for (k, v) in req["env"].as_object().into_iter().flatten() {
            cmd.env(k, v.as_str().unwrap_or_default());
        }
        let answer = match wait_child(&mut cmd, Path::new(req["stderr"].as_str().unwrap_or("/dev/null"))) {
            Ok(r) => {
                json!({"wall": r.wall.as_secs_f64(), "cpu": r.cpu.as_secs_f64(), "max_rss_kib": r.max_rss_kib, "code": r.code})
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        writeln!(out, "{answer}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Run `cmd` through the spawner: stdout discarded, stderr kept in `stderr`.
fn run_child(cmd: &mut Command, stderr: &Path) -> std::io::Result<ChildRun> {
    use std::io::BufRead;
    let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    let req = json!({
        "program": text(cmd.get_program()),
        "args": cmd.get_args().map(text).collect::<Vec<_>>(),
        "env": cmd.get_envs().filter_map(|(k, v)| Some((text(k), Value::from(text(v?))))).collect::<serde_json::Map<_, _>>(),
        "stderr": stderr.display().to_string(),
    });
    let mut guard = SPAWNER.lock().unwrap();
    let spawner = guard
        .as_mut()
        .ok_or_else(|| std::io::Error::other("spawner not started"))?;
    writeln!(spawner.input, "{req}")?;
    spawner.input.flush()?;
    let mut line = String::new();
    spawner.output.read_line(&mut line)?;
    let answer: Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
    if let Some(e) = answer["error"].as_str() {
        return Err(std::io::Error::other(e.to_string()));
    }
    Ok(ChildRun {
        wall: Duration::from_secs_f64(answer["wall"].as_f64().unwrap_or_default()),
        cpu: Duration::from_secs_f64(answer["cpu"].as_f64().unwrap_or_default()),
        max_rss_kib: answer["max_rss_kib"].as_u64().unwrap_or_default(),
        code: answer["code"].as_i64().unwrap_or(-1) as i32,
    })
}

/// Run `cmd` to completion with stdout discarded and stderr kept in `stderr`, and read its peak RSS from `wait4`.
fn wait_child(cmd: &mut Command, stderr: &Path) -> std::io::Result<ChildRun> {
    let err = std::fs::File::create(stderr)?;
    let started = Instant::now();
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes into both out-parameters, which live across the
    // call. The Child handle is not waited on afterwards (std does not reap on drop).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    drop(child);
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(ChildRun {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
        code,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

#[derive(Default, Clone)]
struct Figures {
    label: String,
    walls: Vec<Duration>,
    /// User + system CPU time of each run (empty for the in-process transfer floor).
    cpus: Vec<Duration>,
    max_rss_kib: u64,
    requests: usize,
    bytes: u64,
    round_trips: Option<usize>,
    /// Which transfer floor (the same lists, downloaded bare) this command is compared with.
    floor: Option<Floor>,
}

impl Figures {
    fn median(&self) -> Duration {
        median_of(self.walls.clone())
    }

    fn cpu(&self) -> Option<Duration> {
        (!self.cpus.is_empty()).then(|| median_of(self.cpus.clone()))
    }

    fn json(&self) -> Value {
        json!({
            "command": self.label,
            "median_seconds": self.median().as_secs_f64(),
            "runs_seconds": self.walls.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "cpu_seconds_median": self.cpu().map(|c| c.as_secs_f64()),
            "requests": self.requests,
            "bytes_received": self.bytes,
            "peak_rss_bytes": self.max_rss_kib * 1024,
            "round_trips": self.round_trips,
        })
    }
}

struct Bench<'a> {
    server: &'a TestServer,
    kubeconfig: PathBuf,
    scratch: PathBuf,
    runs: usize,
}

impl Bench<'_> {
    /// Run a command `runs` times; requests and bytes from the last run's log (they are the same every run).
    fn measure(
        &self,
        label: &str,
        ok_codes: &[i32],
        floor: Option<Floor>,
        mut make: impl FnMut(usize) -> Command,
    ) -> Result<Figures, String> {
        let mut f = Figures {
            label: label.to_string(),
            floor,
            ..Default::default()
        };
        for run in 0..self.runs {
            self.server.clear_log();
            let stderr = self.scratch.join("stderr.txt");
            let mut cmd = make(run);
            let r = run_child(&mut cmd, &stderr).map_err(|e| format!("{label}: {e}"))?;
            if !ok_codes.contains(&r.code) {
                let text = std::fs::read_to_string(&stderr).unwrap_or_default();
                return Err(format!("{label}: exit {}\n{text}", r.code));
            }
            f.walls.push(r.wall);
            f.cpus.push(r.cpu);
            f.max_rss_kib = f.max_rss_kib.max(r.max_rss_kib);
            let log = self.server.requests();
            f.requests = log.len();
            f.bytes = log.iter().map(|r| r.response_bytes).sum();
        }
        Ok(f)
    }

    fn plugin(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(plugin());
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.env("NO_COLOR", "1");
        cmd
    }
}

/// A bare HTTP/1.1 client: download every page of `paths` (8 lists at a time, one keep-alive connection each),
/// keep nothing, decode nothing but the `continue` token. Returns (wall, requests, bytes).
fn transfer_floor(addr: SocketAddr, paths: &[String]) -> std::io::Result<(Duration, usize, u64)> {
    let queue = Arc::new(Mutex::new(paths.iter().cloned().collect::<VecDeque<_>>()));
    let started = Instant::now();
    let workers: Vec<_> = (0..PARALLEL_LISTS.min(paths.len()))
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || -> std::io::Result<(usize, u64)> {
                let mut conn = TcpStream::connect(addr)?;
                conn.set_nodelay(true)?;
                let mut buf = Vec::with_capacity(8 << 20);
                let (mut requests, mut bytes) = (0, 0);
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(path) = next else { break };
                    let mut token = String::new();
                    loop {
                        let sep = if path.contains('?') { '&' } else { '?' };
                        let mut url = format!("{path}{sep}limit={PAGE}");
                        if !token.is_empty() {
                            url.push_str("&continue=");
                            url.push_str(&percent_encode(&token));
                        }
                        write!(
                            conn,
                            "GET {url} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"
                        )?;
                        let (status, len) = read_response(&mut conn, &mut buf)?;
                        requests += 1;
                        bytes += len as u64;
                        if status != 200 {
                            break;
                        }
                        token = continue_token(&buf[..len.min(4096)]);
                        if token.is_empty() {
                            break;
                        }
                    }
                }
                Ok((requests, bytes))
            })
        })
        .collect();
    let (mut requests, mut bytes) = (0, 0);
    for w in workers {
        let (r, b) = w.join().map_err(|_| std::io::Error::other("floor worker panicked"))??;
        requests += r;
        bytes += b;
    }
    Ok((started.elapsed(), requests, bytes))
}

/// Read one response into `buf` (body only); returns (status, body length). Content-Length or chunked.
fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, usize)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(name)
                .map(|v| v.trim_start_matches(':').trim().to_string())
        })
    };
    buf.clear();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        buf.resize(len, 0);
        conn.read_exact(buf)?;
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                conn.read_exact(&mut byte)?;
                line.push(byte[0]);
            }
            let size = usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16)
                .map_err(|e| std::io::Error::other(format!("bad chunk size: {e}")))?;
            let start = buf.len();
            buf.resize(start + size + 2, 0);
            conn.read_exact(&mut buf[start..])?;
            buf.truncate(start + size);
            if size == 0 {
                break;
            }
        }
    }
    Ok((status, buf.len()))
}

/// The `continue` token from a list page's head (metadata comes before items), found without parsing JSON.
fn continue_token(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    let Some(at) = text.find("\"continue\":\"") else {
        return String::new();
    };
    let rest = &text[at + "\"continue\":\"".len()..];
    rest.split('"').next().unwrap_or_default().to_string()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A mesh route of `team-000` to shift: its Service and two of its versions (backend `<service>-<version>`).
fn shift_target(server: &TestServer) -> Result<(String, String, String), String> {
    for route in server.list("httproutes", Some("team-000")) {
        let Some(service) = route
            .pointer("/spec/parentRefs")
            .and_then(Value::as_array)
            .and_then(|refs| refs.iter().find(|r| r["kind"] == "Service"))
            .and_then(|r| r["name"].as_str())
        else {
            continue;
        };
        let versions: Vec<String> = route
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|rule| rule["backendRefs"].as_array().cloned().unwrap_or_default())
            .filter_map(|b| {
                b["name"]
                    .as_str()?
                    .strip_prefix(&format!("{service}-"))
                    .map(str::to_string)
            })
            .collect();
        if let [from, to, ..] = versions.as_slice() {
            return Ok((service.to_string(), from.clone(), to.clone()));
        }
    }
    Err("the scale scenario has no mesh route with two versions in team-000".into())
}

fn median_of(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Median wall time of a short command run `n` times (output discarded).
fn startup(mut make: impl FnMut() -> Command, n: usize) -> Result<Duration, String> {
    let mut times = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let status = make()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if !status.success() {
            return Err(format!("exit {status}"));
        }
    }
    Ok(median_of(times))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn secs(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Pages a LIST of `n` items takes.
fn pages(n: usize) -> usize {
    n.div_ceil(PAGE).max(1)
}

/// A set of LISTs downloaded bare (no decoding) for the transfer floor of the commands that read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Floor {
    /// doctor's (and recover's) lists: every [`Kind`], cluster-wide.
    Doctor,
    /// status's: HTTPRoutes, Services, EndpointSlices.
    Status,
    /// The kubectl reference's: pods, services, endpointslices, configmaps, httproutes.
    Kubectl,
}

impl Floor {
    const ALL: [Floor; 3] = [Floor::Doctor, Floor::Status, Floor::Kubectl];

    fn label(self) -> &'static str {
        match self {
            Floor::Doctor => "floor: doctor's lists, bare client, no decoding",
            Floor::Status => "floor: status's lists, bare client, no decoding",
            Floor::Kubectl => "floor: kubectl's lists, bare client, no decoding",
        }
    }

    fn paths(self) -> Vec<String> {
        match self {
            Floor::Doctor => Kind::ALL.iter().map(|k| k.list_path(None)).collect(),
            Floor::Status => [
                "/apis/gateway.networking.k8s.io/v1/httproutes",
                "/api/v1/services",
                "/apis/discovery.k8s.io/v1/endpointslices",
            ]
            .map(String::from)
            .to_vec(),
            Floor::Kubectl => [
                "/api/v1/pods",
                "/api/v1/services",
                "/apis/discovery.k8s.io/v1/endpointslices",
                "/api/v1/configmaps",
                "/apis/gateway.networking.k8s.io/v1/httproutes",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

struct SizeResult {
    summary: ScaleSummary,
    build: Duration,
    figures: Vec<Figures>,
    floors: Vec<(Floor, Figures)>,
    doctor_lists_expected: usize,
    checks: Vec<(String, bool)>,
}

fn bench_size(pods: usize, opts: &Options, scratch: &Path) -> Result<SizeResult, String> {
    let server = TestServer::start(ServerOptions::default()).map_err(|e| format!("sandbox: {e}"))?;
    let scenario = ScaleScenario::pods(pods);
    let started = Instant::now();
    let summary = server
        .apply_scale(&scenario)
        .map_err(|e| format!("scale scenario: {e}"))?;
    let build = started.elapsed();
    eprintln!(
        "bench: {} pods in {} namespaces built in {}",
        summary.pods,
        summary.namespaces,
        secs(build)
    );
    let dir = scratch.join(format!("pods-{pods}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let kubeconfig = server
        .write_kubeconfig(&dir, Some("team-000"))
        .map_err(|e| format!("kubeconfig: {e}"))?;
    let bench = Bench {
        server: &server,
        kubeconfig: kubeconfig.clone(),
        scratch: scratch.to_path_buf(),
        runs: opts.runs,
    };

    let mut figures = Vec::new();
    eprintln!("bench: doctor");
    // doctor exits 1 when it finds problems, which the scenario has on purpose.
    let runs: [(&str, &[&str], &[i32], Floor); 3] = [
        ("doctor", &["doctor", "-A", "-o", "json"], &[0, 1], Floor::Doctor),
        ("status", &["status", "-A", "-o", "json"], &[0], Floor::Status),
        (
            "recover",
            &["recover", "-A", "--dry-run=client", "-o", "json"],
            &[0],
            Floor::Doctor,
        ),
    ];
    for (name, args, ok_codes, floor) in runs {
        eprintln!("bench: {name}");
        let label = format!("kubectl mesh {}", args.join(" "));
        figures.push(bench.measure(&label, ok_codes, Some(floor), |_| bench.plugin(args))?);
    }
    eprintln!("bench: shift");
    let (service, from, to) = shift_target(&server)?;
    let weights = |run: usize| {
        if run.is_multiple_of(2) {
            [format!("{from}=90"), format!("{to}=10")]
        } else {
            [format!("{from}=10"), format!("{to}=90")]
        }
    };
    let mut shift = bench.measure(
        &format!("kubectl mesh shift {service} {from}=90 {to}=10"),
        &[0],
        None,
        |run| {
            let [a, b] = weights(run);
            bench.plugin(&["shift", service.as_str(), a.as_str(), b.as_str(), "-n", "team-000"])
        },
    )?;
    // Round trips: with 100 ms added to every answer, concurrent requests overlap for sure in the log.
    server.inject(Fault::delay(Duration::from_millis(100)).always());
    server.clear_log();
    let [a, b] = weights(opts.runs);
    let r = run_child(
        &mut bench.plugin(&["shift", service.as_str(), a.as_str(), b.as_str(), "-n", "team-000"]),
        &scratch.join("stderr.txt"),
    )
    .map_err(|e| e.to_string())?;
    server.clear_faults();
    if r.code != 0 {
        return Err(format!("shift under latency: exit {}", r.code));
    }
    shift.round_trips = Some(sequential_round_trips(&server.requests()));
    figures.push(shift);

    if pods <= opts.kubectl_up_to {
        eprintln!("bench: kubectl");
        figures.push(bench.measure(
            "kubectl get pods,services,endpointslices,configmaps,httproutes -A -o json",
            &[0],
            Some(Floor::Kubectl),
            |_| {
                let mut cmd = Command::new("kubectl");
                cmd.arg("--kubeconfig").arg(&kubeconfig).args([
                    "get",
                    "pods,services,endpointslices,configmaps,httproutes",
                    "-A",
                    "-o",
                    "json",
                ]);
                cmd
            },
        )?);
    }

    eprintln!("bench: transfer floors");
    let mut floors = Vec::new();
    for which in Floor::ALL {
        let paths = which.paths();
        let mut floor = Figures {
            label: which.label().into(),
            ..Default::default()
        };
        for _ in 0..opts.runs {
            server.clear_log();
            let (wall, requests, bytes) = transfer_floor(server.addr(), &paths).map_err(|e| format!("floor: {e}"))?;
            floor.walls.push(wall);
            floor.requests = requests;
            floor.bytes = bytes;
        }
        floors.push((which, floor));
    }
    let floor_of = |f: &Figures| {
        floors
            .iter()
            .find(|(which, _)| Some(*which) == f.floor)
            .map(|(_, floor)| floor.median())
    };

    // The request-count and target checks: what doctor's LISTs must cost, counted from the store itself.
    let doctor_lists_expected: usize = Kind::ALL
        .iter()
        .map(|kind| {
            let items = server.list(kind.plural(), None);
            let n = match kind.field_selector() {
                Some(_) => items
                    .iter()
                    .filter(|o| o.pointer("/metadata/name") == Some(&json!("istio-ca-root-cert")))
                    .count(),
                None => items.len(),
            };
            pages(n)
        })
        .sum();
    let doctor = &figures[0];
    let kubectl = figures.iter().find(|f| f.label.starts_with("kubectl get"));
    let mut checks = vec![
        (
            format!(
                "doctor makes one LIST per kind plus pages: {} requests, {} expected",
                doctor.requests, doctor_lists_expected
            ),
            doctor.requests == doctor_lists_expected,
        ),
        (
            format!(
                "shift ≤ 3 round trips: {}",
                figures[3].round_trips.unwrap_or(usize::MAX)
            ),
            figures[3].round_trips.is_some_and(|r| r <= 3),
        ),
    ];
    // The time targets are set at 10,000 pods; other sizes show their ratios in the table.
    if pods == 10_000 {
        checks.push((
            format!(
                "doctor ≤ 2 × transfer floor at 10,000 pods: {:.2} ×",
                doctor.median().as_secs_f64() / floor_of(doctor).unwrap_or_default().as_secs_f64()
            ),
            floor_of(doctor).is_some_and(|floor| doctor.median() <= floor * 2),
        ));
        if let Some(k) = kubectl {
            checks.push((
                format!(
                    "doctor ≤ 0.05 × kubectl at 10,000 pods: {:.3} ×",
                    doctor.median().as_secs_f64() / k.median().as_secs_f64()
                ),
                doctor.median().as_secs_f64() <= 0.05 * k.median().as_secs_f64(),
            ));
        }
    }
    if pods == 10_000 {
        checks.push((
            format!("doctor peak RSS ≤ 60 MB at 10,000 pods: {}", mib(doctor.max_rss_kib)),
            doctor.max_rss_kib * 1024 <= 60 * 1024 * 1024,
        ));
    }
    drop(server);
    Ok(SizeResult {
        summary,
        build,
        figures,
        floors,
        doctor_lists_expected,
        checks,
    })
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--spawner") {
        if let Err(e) = spawner_main() {
            eprintln!("error: spawner: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = real_main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let opts = parse_args()?;
    if opts.serve {
        return serve(&opts);
    }
    start_spawner()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    if opts.real {
        let real_opts = real::RealOptions {
            pods: opts.pods[0],
            runs: opts.runs,
            parallel: opts.parallel,
        };
        let md = real::run(&real_opts, scratch.path())?;
        println!("{md}");
        let path = opts.out.join("scale-real.md");
        std::fs::write(&path, &md).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
        return Ok(());
    }
    let bin = plugin();
    eprintln!("bench: plugin {}", bin.display());

    let help = startup(
        || {
            let mut c = Command::new(&bin);
            c.arg("--help");
            c
        },
        21,
    )?;
    let kubectl_version = startup(
        || {
            let mut c = Command::new("kubectl");
            c.args(["version", "--client"]);
            c
        },
        21,
    )?;

    let mut md = String::new();
    md.push_str(&format!(
        "# kubectl-mesh scale benchmark\n\nplugin: `{}`; {} runs per command, median wall time; peak RSS is the largest of the runs.\n\n",
        bin.display(),
        opts.runs
    ));
    let cold = format!(
        "Cold start (median of 21): `kubectl-mesh --help` {} vs `kubectl version --client` {} (ratio {:.3}; target ≤ 0.1) {}\n\n",
        secs(help),
        secs(kubectl_version),
        help.as_secs_f64() / kubectl_version.as_secs_f64(),
        verdict(help.as_secs_f64() <= 0.1 * kubectl_version.as_secs_f64())
    );
    println!("{cold}");
    md.push_str(&cold);
    let mut sizes = Vec::new();
    for &pods in &opts.pods {
        let r = bench_size(pods, &opts, scratch.path())?;
        let table = render_size(&r);
        println!("{table}");
        md.push_str(&table);
        sizes.push(r);
    }
    if sizes.len() > 1 {
        let growth = render_growth(&sizes);
        println!("{growth}");
        md.push_str(&growth);
    }
    let doc = json!({
        "plugin": bin.display().to_string(),
        "runs": opts.runs,
        "cold_start": {"plugin_help_seconds": help.as_secs_f64(), "kubectl_version_client_seconds": kubectl_version.as_secs_f64()},
        "sizes": sizes.iter().map(|r| json!({
            "pods": r.summary.pods,
            "namespaces": r.summary.namespaces,
            "services": r.summary.services,
            "routes": r.summary.routes,
            "scenario_build_seconds": r.build.as_secs_f64(),
            "doctor_requests_expected": r.doctor_lists_expected,
            "commands": r.figures.iter().chain(r.floors.iter().map(|(_, f)| f)).map(Figures::json).collect::<Vec<_>>(),
            "checks": r.checks.iter().map(|(what, ok)| json!({"check": what, "ok": ok})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let md_path = opts.out.join("scale.md");
    let json_path = opts.out.join("scale.json");
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    eprintln!("bench: wrote {} and {}", md_path.display(), json_path.display());
    Ok(())
}

/// `--serve`: the scale scenario of the first `--pods` size, served until the process is killed, with its
/// kubeconfig written to `<out>/kubeconfig` (context namespace `team-000`).
fn serve(opts: &Options) -> Result<(), String> {
    let server = TestServer::start(ServerOptions::default()).map_err(|e| format!("sandbox: {e}"))?;
    let summary = server
        .apply_scale(&ScaleScenario::pods(opts.pods[0]))
        .map_err(|e| format!("scale scenario: {e}"))?;
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let kubeconfig = server
        .write_kubeconfig(&opts.out, Some("team-000"))
        .map_err(|e| format!("kubeconfig: {e}"))?;
    println!(
        "serving {} pods in {} namespaces at {}\nexport KUBECONFIG={}",
        summary.pods,
        summary.namespaces,
        server.addr(),
        kubeconfig.display()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗ MISSED"
    }
}

fn render_size(r: &SizeResult) -> String {
    let s = &r.summary;
    let mut out = format!(
        "## {} pods ({} namespaces), {} Services, {} HTTPRoutes — scenario built in {}\n\n",
        s.pods,
        s.namespaces,
        s.services,
        s.routes,
        secs(r.build)
    );
    let kubectl = r
        .figures
        .iter()
        .find(|f| f.label.starts_with("kubectl get"))
        .map(Figures::median);
    let floor_of = |f: &Figures| {
        r.floors
            .iter()
            .find(|(which, _)| Some(*which) == f.floor)
            .map(|(_, floor)| floor.median())
    };
    out.push_str(
        "| command | wall (median) | CPU (median) | requests | bytes received | peak RSS | / kubectl | / its floor |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for f in r.figures.iter().chain(r.floors.iter().map(|(_, f)| f)) {
        let ratio = |base: Option<Duration>| {
            base.map(|b| format!("{:.3}", f.median().as_secs_f64() / b.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        };
        let rss = if f.max_rss_kib == 0 {
            "-".to_string()
        } else {
            mib(f.max_rss_kib)
        };
        let label = match f.round_trips {
            Some(rt) => format!("`{}` ({rt} round trips)", f.label),
            None => format!("`{}`", f.label),
        };
        out.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {rss} | {} | {} |\n",
            secs(f.median()),
            f.cpu().map(secs).unwrap_or_else(|| "-".into()),
            f.requests,
            mb(f.bytes),
            ratio(kubectl),
            ratio(floor_of(f)),
        ));
    }
    out.push('\n');
    for (what, ok) in &r.checks {
        out.push_str(&format!("- {} {what}\n", verdict(*ok)));
    }
    out.push('\n');
    out
}

/// How doctor's and status's time and memory grow between sizes: time per pod stays flat when time grows
/// linearly; peak RSS grows sublinearly when it grows by less than the pod count does.
fn render_growth(sizes: &[SizeResult]) -> String {
    let mut out = String::from(
        "## Growth\n\n| pods | doctor wall | doctor µs per pod | doctor / its floor | doctor peak RSS | RSS × vs pods × | status wall | status peak RSS |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut lines = Vec::new();
    for (i, r) in sizes.iter().enumerate() {
        let d = &r.figures[0];
        let st = &r.figures[1];
        let floor = r
            .floors
            .iter()
            .find(|(w, _)| *w == Floor::Doctor)
            .map_or(Duration::ZERO, |(_, f)| f.median());
        let per_pod = d.median().as_secs_f64() * 1e6 / r.summary.pods as f64;
        let growth = match i.checked_sub(1).map(|p| &sizes[p]) {
            Some(prev) => {
                let rss = d.max_rss_kib as f64 / prev.figures[0].max_rss_kib.max(1) as f64;
                let pods = r.summary.pods as f64 / prev.summary.pods.max(1) as f64;
                let time = d.median().as_secs_f64() / prev.figures[0].median().as_secs_f64().max(1e-9);
                lines.push((
                    format!(
                        "doctor time grows at most linearly from {} to {} pods: {time:.2} × for {pods:.1} × the pods (≤ 1.2 × linear passes)",
                        prev.summary.pods, r.summary.pods
                    ),
                    time <= 1.2 * pods,
                ));
                lines.push((
                    format!(
                        "doctor peak RSS grows sublinearly from {} to {} pods: {rss:.2} × for {pods:.1} × the pods",
                        prev.summary.pods, r.summary.pods
                    ),
                    rss < pods,
                ));
                format!("{rss:.2} × / {pods:.1} ×")
            }
            None => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {per_pod:.1} | {:.2} | {} | {growth} | {} | {} |\n",
            r.summary.pods,
            secs(d.median()),
            d.median().as_secs_f64() / floor.as_secs_f64().max(1e-9),
            mib(d.max_rss_kib),
            secs(st.median()),
            mib(st.max_rss_kib),
        ));
    }
    out.push('\n');
    for (what, ok) in lines {
        out.push_str(&format!("- {} {what}\n", verdict(ok)));
    }
    out.push('\n');
    out
}
