//! The wire formats by name: which format module answers for a provider's whole answers
//! (`parse_answer`, the one Python entry point for them) and which describes its streams'
//! steady frames (`steady_frames`). What the format modules share is in `wire`.
//!
//! `parse_answer` is used by the httpx transports for every 2xx whole (non-streamed) answer of
//! those providers: the format module classifies the request stock built (which endpoint,
//! streamed or not), checks the answer against its typed model of that endpoint's response
//! (from the provider's public API reference), and only if both hold the core builds the
//! Python object — exactly what `json.loads(body)` gives (`pyjson`) — which stock's parser
//! then reads from `response.json()`. Anything else (a shape the model does not know, a body
//! that is not JSON, a streamed answer) returns `None` and stock parses the bytes itself, so
//! its own errors are raised exactly as without the patch.

use pyo3::prelude::*;

use crate::wire::SteadyFrames;
use crate::{anthropic, gemini, ollama, openai, pyjson};

/// Above this many bytes (request and answer together) the typed check runs with the GIL
/// released: other Python threads (the caller's own, or another call's) keep running while a
/// large exchange is checked. Below it, releasing and re-taking the GIL would cost more.
const DETACH_ABOVE: usize = 64 * 1024;

/// Whether the format module for `format` accepts this exchange: the request (`path`, the
/// body stock sent) names an endpoint answered with one whole JSON document, and `body`
/// has the shape the provider documents for it.
pub fn accepts(format: &str, path: &str, request: &[u8], body: &[u8]) -> bool {
    match format {
        "anthropic" => anthropic::accepts_answer(path, request, body),
        "gemini" => gemini::accepts_answer(path, request, body),
        "ollama" => ollama::accepts_answer(path, request, body),
        _ => false,
    }
}

/// `parse_answer(format, path, request_body, body) -> object | None`: the parsed answer when
/// the format module accepted it, else `None` (no accepted answer is JSON `null`).
#[pyfunction]
pub fn parse_answer<'py>(
    py: Python<'py>,
    format: &str,
    path: &str,
    request: &[u8],
    body: &[u8],
) -> Option<Bound<'py, PyAny>> {
    // Both documents are read: a large request (images) counts as much as a large answer.
    let accepted = if request.len() + body.len() > DETACH_ABOVE {
        py.detach(|| accepts(format, path, request, body))
    } else {
        accepts(format, path, request, body)
    };
    if !accepted {
        return None;
    }
    // Cannot fail for a body serde_json accepted as UTF-8 JSON; if it ever did, stock parses.
    pyjson::loads(py, body).ok()
}

/// The steady frames of the format a Python caller names.
pub fn steady_frames(format: &str) -> Option<&'static SteadyFrames> {
    match format {
        "openai" => Some(&openai::STEADY_FRAMES),
        "anthropic" => Some(&anthropic::STEADY_FRAMES),
        "gemini" => Some(&gemini::STEADY_FRAMES),
        "ollama" => Some(&ollama::STEADY_FRAMES),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_format_is_never_accepted() {
        assert!(!accepts("openai", "/v1/chat/completions", b"{}", b"{}"));
    }
}
