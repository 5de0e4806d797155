//! Test support (the `fixtures` feature, for tests, benchmarks and fuzzing only; never in a shipped binary):
//! where the shared upstream fixtures live (`fixtures/` in the shared material next to the workspace: Bookinfo,
//! the Gateway API CRDs, Istio testdata, certificates).

use std::path::{Path, PathBuf};

/// The workspace root: the nearest directory above this crate holding a `Cargo.lock`.
fn workspace_root() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(here)
}

/// Where the shared fixtures are expected: `<workspace>/../shared/fixtures`.
pub fn shared_fixtures_dir() -> PathBuf {
    workspace_root().join("../shared/fixtures")
}

/// The shared fixtures directory, or `None` with a visible skip message when absent; panics when absent and
/// `MESH_REQUIRE_SHARED=1` (CI), so a missing directory can never turn conformance tests into silent passes.
pub fn shared_fixtures() -> Option<PathBuf> {
    let p = shared_fixtures_dir();
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("MESH_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("shared fixtures missing at {} and MESH_REQUIRE_SHARED=1", p.display());
    }
    eprintln!("skipping: shared fixtures not found at {}", p.display());
    None
}
