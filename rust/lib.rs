//! Native core of edgequake_patch: LiteLLM's provider HTTP calls, minus the OpenAI SDK
//! and httpx overhead. Python keeps all policy about *when* to use it; this crate only
//! has to be fast and to behave like the stock stack it replaces.

// The asyncio bridge relies on a socketpair watched with `loop.add_reader`: Unix only.
#[cfg(unix)]
mod aio;
mod anthropic;
mod build_info;
mod formats;
mod frames;
mod gemini;
mod http;
mod models;
mod net;
mod ollama;
mod openai;
mod pyjson;
mod retry;
mod stream;
mod wire;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod json_bench;

use pyo3::prelude::*;

// The JSON key cache in `pyjson` is a plain static protected by the GIL, so the module
// must not claim free-threading support.
#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(http::send, m)?)?;
    m.add_function(wrap_pyfunction!(http::send_async, m)?)?;
    m.add_class::<http::Response>()?;
    m.add_class::<net::NetConfig>()?;
    m.add_function(wrap_pyfunction!(stream::open_stream, m)?)?;
    m.add_function(wrap_pyfunction!(stream::open_stream_async, m)?)?;
    m.add_class::<stream::StreamResponse>()?;
    m.add_class::<frames::PyFrameSplitter>()?;
    m.add_function(wrap_pyfunction!(models::new_model, m)?)?;
    m.add_function(wrap_pyfunction!(models::uuid4_text, m)?)?;
    m.add("TransportError", py.get_type::<http::TransportError>())?;

    // Exposed as loads/dumps; the Rust names avoid clashing with the internal functions.
    let loads = wrap_pyfunction!(pyjson::py_loads, m)?;
    m.add("loads", loads)?;
    let dumps = wrap_pyfunction!(pyjson::py_dumps, m)?;
    m.add("dumps", dumps)?;

    m.add_function(wrap_pyfunction!(openai::openai_sdk_shape, m)?)?;
    m.add_function(wrap_pyfunction!(openai::openai_sdk_shape_embedding, m)?)?;
    m.add_function(wrap_pyfunction!(openai::openai_schema, m)?)?;
    m.add_function(wrap_pyfunction!(openai::use_openai_schema, m)?)?;
    // Anthropic, Gemini and Ollama answers (formats.rs dispatches to each format's module).
    m.add_function(wrap_pyfunction!(formats::parse_answer, m)?)?;
    m.add_function(wrap_pyfunction!(build_info::build_info, m)?)?;
    m.add(
        "ShapeUnsupported",
        py.get_type::<openai::ShapeUnsupported>(),
    )?;
    Ok(())
}
