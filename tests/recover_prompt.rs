//! recover's confirmation prompt in a real pseudo-terminal (tmux): answering "y" restarts, answering "n"
//! changes nothing.

#[path = "common/mesh.rs"]
mod mesh;

use std::process::Command;
use std::time::{Duration, Instant};

use mesh::Mesh;
use mesh_sandbox::scenario::bookinfo;

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("tmux is required in CI for the prompt tests (.ci/run installs it)");
        }
        eprintln!("skipping: tmux not installed");
    }
    ok
}

struct Session {
    name: String,
    socket: String,
}

impl Session {
    fn start(m: &Mesh, answer_file: &std::path::Path) -> Session {
        let name = format!("mesh-{}", std::process::id());
        let socket = m.dir.path().join("tmux.sock").display().to_string();
        let cmd = format!(
            "{} recover --kubeconfig {} ; echo EXIT=$? > {}; sleep 60",
            env!("CARGO_BIN_EXE_kubectl-mesh"),
            m.kubeconfig.display(),
            answer_file.display()
        );
        let status = Command::new("tmux")
            .args(["-S", &socket, "new-session", "-d", "-s", &name, "-x", "200", "-y", "50"])
            .arg(format!(
                "env -u KUBECONFIG NO_COLOR=1 HOME={} sh -c '{cmd}'",
                m.dir.path().display()
            ))
            .status()
            .unwrap();
        assert!(status.success());
        Session { name, socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-S", &self.socket, "capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never saw {needle:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn send(&self, keys: &str) {
        Command::new("tmux")
            .args(["-S", &self.socket, "send-keys", "-t", &self.name, keys])
            .status()
            .unwrap();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-S", &self.socket, "kill-server"]).status();
    }
}

fn wait_exit(path: &std::path::Path) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.contains("EXIT=") {
                return s.trim().to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("recover did not finish");
}

fn patches(m: &Mesh) -> usize {
    m.stored_writes().iter().filter(|w| w.method == "PATCH").count()
}

#[test]
fn answering_yes_at_the_prompt_restarts_the_workloads() {
    if !tmux_available() {
        return;
    }
    let m = Mesh::with(bookinfo().stale_root_cert());
    let done = m.dir.path().join("exit");
    let s = Session::start(&m, &done);
    let screen = s.wait_for("Restart 2 workloads?");
    assert!(
        screen.contains("reviews-v2"),
        "the plan is shown before the question:\n{screen}"
    );
    s.send("y");
    assert_eq!(wait_exit(&done), "EXIT=0");
    assert_eq!(patches(&m), 2);
}

#[test]
fn answering_no_at_the_prompt_changes_nothing() {
    if !tmux_available() {
        return;
    }
    let m = Mesh::with(bookinfo().stale_root_cert());
    let done = m.dir.path().join("exit");
    let s = Session::start(&m, &done);
    s.wait_for("Restart 2 workloads?");
    s.send("n");
    assert_eq!(wait_exit(&done), "EXIT=1");
    assert_eq!(patches(&m), 0);
    assert!(s.screen().contains("nothing was changed"), "{}", s.screen());
}
