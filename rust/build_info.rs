//! What this compiled core is, for `python -m edgequake_patch`: a debug build (`maturin
//! develop` without `--release`) is many times slower than the release build the benchmarks
//! describe, and a core left over from another checkout reports another version.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `build_info()`: {"version", "profile" ("release" or "debug"), "target" ("<arch>-<os>")}.
#[pyfunction]
pub fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("version", env!("CARGO_PKG_VERSION"))?;
    // Cargo's release profile turns debug assertions off; every debug profile keeps them.
    info.set_item("profile", if cfg!(debug_assertions) { "debug" } else { "release" })?;
    info.set_item("target", format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS))?;
    Ok(info)
}
