//! OpenAI wire format: turn a parsed response body into exactly the dict that stock
//! LiteLLM gets from the SDK, i.e. `ChatCompletion.construct(**body).model_dump()`.
//!
//! Stock never validates a response strictly: the SDK builds models with its lenient
//! `construct` (missing fields become None, unknown keys are kept after the declared
//! ones, wrong-typed values pass through untouched), except that every `Optional[...]`
//! field is first tried with real pydantic validation. Validation and construction give
//! the same dump unless validation has to coerce a value (e.g. "5" into an int field).
//! We implement construction, and wherever validation would have coerced we refuse with
//! `ShapeUnsupported` so the caller can hand that (never seen in practice) body to the
//! SDK itself instead of returning a subtly different dict.
//!
//! The field lists mirror the openai SDK's models, in declaration order, which is the order
//! `model_dump` emits. openai 3 added fields to some models; each field says from which SDK
//! generation on it is declared, and the generation in use is chosen at run time
//! (`use_openai_schema`) by comparing `openai_schema(generation)` with the installed SDK's
//! `model_fields` (edgequake_patch/transport/sdk_models.py): where neither generation matches, the
//! Python side lets the SDK parse instead.

use std::sync::atomic::{AtomicU8, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

pyo3::create_exception!(
    edgequake_patch._native,
    ShapeUnsupported,
    PyValueError,
    "The body is valid JSON but needs the SDK's own model handling to be reproduced exactly."
);

#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    Float,
    Literal,
    Model(&'static Model),
    List(&'static T),
    /// `Optional[...]`: the SDK tries pydantic validation first.
    Opt(&'static T),
    /// The `tool_calls` entry union, discriminated on "type".
    ToolCall,
    /// A field we do not model (rare, deeply nested unions): present and not None means
    /// the caller must use the SDK.
    Unsupported,
    /// A value both lax validation and construction keep as received (openai 3's
    /// `metadata: Optional[Dict[str, str]]`: no coercion applies to JSON strings).
    Kept,
}

struct Field {
    name: &'static str,
    ty: T,
    /// The first SDK generation (major version) that declares the field.
    since: u8,
}

pub struct Model {
    name: &'static str,
    fields: &'static [Field],
}

const fn f(name: &'static str, ty: T) -> Field {
    Field { name, ty, since: 2 }
}

/// A field openai 3 added.
const fn f3(name: &'static str, ty: T) -> Field {
    Field { name, ty, since: 3 }
}

/// The SDK generation whose models are reproduced (2 until `use_openai_schema` says otherwise).
static GENERATION: AtomicU8 = AtomicU8::new(2);

fn declared(m: &'static Model) -> impl Iterator<Item = &'static Field> {
    let generation = GENERATION.load(Ordering::Relaxed);
    m.fields.iter().filter(move |field| field.since <= generation)
}

static OPT_STR: T = T::Opt(&T::Str);
static OPT_INT: T = T::Opt(&T::Int);
static INT_LIST: T = T::List(&T::Int);

static FUNCTION: Model = Model {
    name: "Function",
    fields: &[f("arguments", T::Str), f("name", T::Str)],
};
static CUSTOM: Model = Model {
    name: "Custom",
    fields: &[f("input", T::Str), f("name", T::Str)],
};
static FUNCTION_TOOL_CALL: Model = Model {
    name: "ChatCompletionMessageFunctionToolCall",
    fields: &[
        f("id", T::Str),
        f("function", T::Model(&FUNCTION)),
        f("type", T::Literal),
    ],
};
static CUSTOM_TOOL_CALL: Model = Model {
    name: "ChatCompletionMessageCustomToolCall",
    fields: &[
        f("id", T::Str),
        f("custom", T::Model(&CUSTOM)),
        f("type", T::Literal),
    ],
};
static FUNCTION_CALL: Model = Model {
    name: "FunctionCall",
    fields: &[f("arguments", T::Str), f("name", T::Str)],
};
static AUDIO: Model = Model {
    name: "ChatCompletionAudio",
    fields: &[
        f("id", T::Str),
        f("data", T::Str),
        f("expires_at", T::Int),
        f("transcript", T::Str),
    ],
};
static URL_CITATION: Model = Model {
    name: "AnnotationURLCitation",
    fields: &[
        f("end_index", T::Int),
        f("start_index", T::Int),
        f("title", T::Str),
        f("url", T::Str),
    ],
};
static ANNOTATION: Model = Model {
    name: "Annotation",
    fields: &[
        f("type", T::Literal),
        f("url_citation", T::Model(&URL_CITATION)),
    ],
};
static MESSAGE: Model = Model {
    name: "ChatCompletionMessage",
    fields: &[
        f("content", OPT_STR),
        f("refusal", OPT_STR),
        f("role", T::Literal),
        f("annotations", T::Opt(&T::List(&T::Model(&ANNOTATION)))),
        f("audio", T::Opt(&T::Model(&AUDIO))),
        f("function_call", T::Opt(&T::Model(&FUNCTION_CALL))),
        f("tool_calls", T::Opt(&T::List(&T::ToolCall))),
    ],
};
static TOP_LOGPROB: Model = Model {
    name: "TopLogprob",
    fields: &[
        f("token", T::Str),
        f("bytes", T::Opt(&INT_LIST)),
        f("logprob", T::Float),
    ],
};
static TOKEN_LOGPROB: Model = Model {
    name: "ChatCompletionTokenLogprob",
    fields: &[
        f("token", T::Str),
        f("bytes", T::Opt(&INT_LIST)),
        f("logprob", T::Float),
        f("top_logprobs", T::List(&T::Model(&TOP_LOGPROB))),
    ],
};
static CHOICE_LOGPROBS: Model = Model {
    name: "ChoiceLogprobs",
    fields: &[
        f("content", T::Opt(&T::List(&T::Model(&TOKEN_LOGPROB)))),
        f("refusal", T::Opt(&T::List(&T::Model(&TOKEN_LOGPROB)))),
    ],
};
static CHOICE: Model = Model {
    name: "Choice",
    fields: &[
        f("finish_reason", T::Literal),
        f("index", T::Int),
        f("logprobs", T::Opt(&T::Model(&CHOICE_LOGPROBS))),
        f("message", T::Model(&MESSAGE)),
    ],
};
static COMPLETION_TOKENS_DETAILS: Model = Model {
    name: "CompletionTokensDetails",
    fields: &[
        f("accepted_prediction_tokens", OPT_INT),
        f("audio_tokens", OPT_INT),
        f("reasoning_tokens", OPT_INT),
        f("rejected_prediction_tokens", OPT_INT),
        f3("text_tokens", OPT_INT),
    ],
};
static PROMPT_TOKENS_DETAILS: Model = Model {
    name: "PromptTokensDetails",
    fields: &[
        f("audio_tokens", OPT_INT),
        f("cache_write_tokens", OPT_INT),
        f("cached_tokens", OPT_INT),
        f3("image_tokens", OPT_INT),
        f3("text_tokens", OPT_INT),
    ],
};
static COMPLETION_USAGE: Model = Model {
    name: "CompletionUsage",
    fields: &[
        f("completion_tokens", T::Int),
        f("prompt_tokens", T::Int),
        f("total_tokens", T::Int),
        f(
            "completion_tokens_details",
            T::Opt(&T::Model(&COMPLETION_TOKENS_DETAILS)),
        ),
        f(
            "prompt_tokens_details",
            T::Opt(&T::Model(&PROMPT_TOKENS_DETAILS)),
        ),
    ],
};
static CHAT_COMPLETION: Model = Model {
    name: "ChatCompletion",
    fields: &[
        f("id", T::Str),
        f("choices", T::List(&T::Model(&CHOICE))),
        f("created", T::Int),
        f("model", T::Str),
        f("object", T::Literal),
        f3("metadata", T::Opt(&T::Kept)),
        f("moderation", T::Unsupported),
        f("service_tier", T::Opt(&T::Literal)),
        f("system_fingerprint", OPT_STR),
        f("usage", T::Opt(&T::Model(&COMPLETION_USAGE))),
    ],
};

static EMBEDDING: Model = Model {
    name: "Embedding",
    fields: &[
        f("embedding", T::List(&T::Float)),
        f("index", T::Int),
        f("object", T::Literal),
    ],
};
static EMBEDDING_USAGE: Model = Model {
    name: "Usage",
    fields: &[f("prompt_tokens", T::Int), f("total_tokens", T::Int)],
};
static EMBEDDING_RESPONSE: Model = Model {
    name: "CreateEmbeddingResponse",
    fields: &[
        f("data", T::List(&T::Model(&EMBEDDING))),
        f("model", T::Str),
        f("object", T::Literal),
        f("usage", T::Model(&EMBEDDING_USAGE)),
    ],
};

static ALL_MODELS: &[&Model] = &[
    &CHAT_COMPLETION,
    &CHOICE,
    &CHOICE_LOGPROBS,
    &TOKEN_LOGPROB,
    &TOP_LOGPROB,
    &MESSAGE,
    &ANNOTATION,
    &URL_CITATION,
    &AUDIO,
    &FUNCTION_CALL,
    &FUNCTION_TOOL_CALL,
    &FUNCTION,
    &CUSTOM_TOOL_CALL,
    &CUSTOM,
    &COMPLETION_USAGE,
    &COMPLETION_TOKENS_DETAILS,
    &PROMPT_TOKENS_DETAILS,
    &EMBEDDING_RESPONSE,
    &EMBEDDING,
    &EMBEDDING_USAGE,
];

/// Where we are in the body, for error messages; built on the stack, formatted only
/// when an error is actually raised.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'static str,
}

impl Path<'_> {
    const ROOT: Path<'static> = Path {
        parent: None,
        name: "",
    };
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = self.parent {
            if p.parent.is_some() {
                write!(f, "{p}.")?;
            }
        }
        f.write_str(self.name)
    }
}

fn unsupported(path: &Path<'_>) -> PyErr {
    ShapeUnsupported::new_err(format!("{path}: needs the SDK's own model handling"))
}

/// model_dump returns fresh containers for values it does not know; so do we, so that
/// callers mutating the result never alias the parsed body.
fn copy_value<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = v.py();
    if let Ok(d) = v.cast_exact::<PyDict>() {
        let out = PyDict::new(py);
        for (k, val) in d.iter() {
            out.set_item(k, copy_value(&val)?)?;
        }
        return Ok(out.into_any());
    }
    if let Ok(l) = v.cast_exact::<PyList>() {
        let items = l
            .iter()
            .map(|e| copy_value(&e))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyList::new(py, items)?.into_any());
    }
    Ok(v.clone())
}

/// `construct_type(value, type_)` followed by model_dump, for one value.
/// `validated` is true under an Optional, where the SDK runs pydantic validation first.
/// What a dump does with a declared field the body did not carry: `model_dump()` fills it with
/// None; `model_dump(exclude_unset=True)` leaves it out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unset {
    Fill,
    Exclude,
}

fn shape_value<'py>(
    v: &Bound<'py, PyAny>,
    ty: T,
    validated: bool,
    unset: Unset,
    path: &Path<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = v.py();
    if v.is_none() {
        return Ok(v.clone());
    }
    match ty {
        T::Str | T::Literal | T::Kept => copy_value(v),
        T::Int => {
            // Lax validation turns True, 5.0 and "5" into 5; construction would not.
            if validated
                && (v.is_instance_of::<PyBool>()
                    || v.is_instance_of::<PyFloat>()
                    || v.is_instance_of::<PyString>())
            {
                return Err(unsupported(path));
            }
            copy_value(v)
        }
        T::Float => {
            if v.is_instance_of::<PyInt>() {
                // construct_type: float(v) when that is exact, else the int unchanged.
                let as_float = unsafe { ffi::PyLong_AsDouble(v.as_ptr()) };
                if as_float == -1.0 && PyErr::occurred(py) {
                    let _ = PyErr::fetch(py);
                    if validated {
                        return Err(unsupported(path));
                    }
                    return Ok(v.clone());
                }
                let fv = PyFloat::new(py, as_float);
                if fv.as_any().eq(v)? {
                    return Ok(fv.into_any());
                }
                if validated {
                    return Err(unsupported(path));
                }
                return Ok(v.clone());
            }
            if validated && v.is_instance_of::<PyString>() {
                return Err(unsupported(path));
            }
            copy_value(v)
        }
        T::Model(m) => {
            if let Ok(d) = v.cast::<PyDict>() {
                return Ok(shape_model(d, m, validated, unset, path)?.into_any());
            }
            if let Ok(l) = v.cast::<PyList>() {
                // construct_type on a list for a model type builds one model per mapping.
                let mut out = Vec::with_capacity(l.len());
                for e in l.iter() {
                    out.push(match e.cast::<PyDict>() {
                        Ok(d) => shape_model(d, m, validated, unset, path)?.into_any(),
                        Err(_) => copy_value(&e)?,
                    });
                }
                return Ok(PyList::new(py, out)?.into_any());
            }
            copy_value(v)
        }
        T::List(inner) => match v.cast::<PyList>() {
            Ok(l) => {
                let mut out = Vec::with_capacity(l.len());
                for e in l.iter() {
                    out.push(shape_value(&e, *inner, validated, unset, path)?);
                }
                Ok(PyList::new(py, out)?.into_any())
            }
            Err(_) => copy_value(v),
        },
        T::Opt(inner) => shape_value(v, *inner, true, unset, path),
        T::ToolCall => {
            if let Ok(d) = v.cast::<PyDict>() {
                // Discriminator "custom" picks the custom variant; anything else (missing,
                // "function", unknown) ends up as the first variant, the function call.
                let is_custom = match d.get_item("type")? {
                    Some(t) => t
                        .cast::<PyString>()
                        .map(|s| s.to_str().map(|s| s == "custom").unwrap_or(false))
                        .unwrap_or(false),
                    None => false,
                };
                let m = if is_custom {
                    &CUSTOM_TOOL_CALL
                } else {
                    &FUNCTION_TOOL_CALL
                };
                return Ok(shape_model(d, m, true, unset, path)?.into_any());
            }
            shape_value(v, T::Model(&FUNCTION_TOOL_CALL), true, unset, path)
        }
        T::Unsupported => Err(unsupported(path)),
    }
}

fn shape_model<'py>(
    d: &Bound<'py, PyDict>,
    m: &'static Model,
    validated: bool,
    unset: Unset,
    path: &Path<'_>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = d.py();
    let out = PyDict::new(py);
    // Field names come from the parser's key cache: lookups hit precomputed hashes and,
    // for bodies parsed by our `loads`, the very same key objects (identity compare).
    let mut keys: [Option<Bound<'py, PyString>>; 16] = Default::default();
    for (i, field) in declared(m).enumerate() {
        let key = crate::pyjson::cached_key(py, field.name)?;
        let value = match d.get_item(&key)? {
            Some(v) => shape_value(
                &v,
                field.ty,
                validated,
                unset,
                &Path {
                    parent: Some(path),
                    name: field.name,
                },
            )?,
            // construct() fills every declared field; missing ones (required or not) get None,
            // which a dump that excludes unset fields leaves out.
            None if unset == Unset::Exclude => continue,
            None => py.None().into_bound(py),
        };
        out.set_item(&key, value)?;
        keys[i] = Some(key);
    }
    if d.len() > 0 {
        for (k, v) in d.iter() {
            let declared = keys.iter().flatten().any(|key| key.is(&k))
                || match k.cast::<PyString>() {
                    Ok(s) => {
                        let s = s.to_str()?;
                        declared(m).any(|f| f.name == s)
                    }
                    Err(_) => false,
                };
            if !declared {
                out.set_item(k, copy_value(&v)?)?;
            }
        }
    }
    Ok(out)
}

/// `openai_sdk_shape(obj: dict) -> dict`: `ChatCompletion.construct(**obj).model_dump()`.
/// ValueError when the body is not a chat completion at all; `ShapeUnsupported` (a
/// ValueError) when it is, but reproducing the SDK needs the SDK.
/// With `exclude_unset`: `.model_dump(exclude_unset=True)` instead, which stock LiteLLM asks of
/// the parsed response from 1.108 (fields the body did not carry are left out, at any depth).
#[pyfunction]
#[pyo3(signature = (obj, *, exclude_unset = false))]
pub fn openai_sdk_shape<'py>(obj: &Bound<'py, PyAny>, exclude_unset: bool) -> PyResult<Bound<'py, PyDict>> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| PyValueError::new_err("chat completion body is not a JSON object"))?;
    match d.get_item("choices")? {
        Some(c) if c.is_instance_of::<PyList>() => {
            for choice in c.cast::<PyList>()?.iter() {
                let choice = choice.cast_into::<PyDict>().map_err(|_| {
                    PyValueError::new_err("chat completion choice is not an object")
                })?;
                match choice.get_item("message")? {
                    Some(m) if m.is_instance_of::<PyDict>() => {}
                    _ => {
                        return Err(PyValueError::new_err(
                            "chat completion choice has no message object",
                        ))
                    }
                }
            }
        }
        _ => {
            return Err(PyValueError::new_err(
                "chat completion body has no 'choices' list",
            ))
        }
    }
    let unset = if exclude_unset { Unset::Exclude } else { Unset::Fill };
    shape_model(d, &CHAT_COMPLETION, false, unset, &Path::ROOT)
}

/// `openai_sdk_shape_embedding(obj: dict, *, decode_base64=False) -> dict`:
/// `CreateEmbeddingResponse.construct(**obj).model_dump()`. With `decode_base64`, string
/// embeddings are decoded as little-endian float32 arrays the way the SDK's post-parser
/// does when it requested `encoding_format="base64"` on the caller's behalf.
#[pyfunction]
#[pyo3(signature = (obj, *, decode_base64 = false))]
pub fn openai_sdk_shape_embedding<'py>(
    obj: &Bound<'py, PyAny>,
    decode_base64: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| PyValueError::new_err("embedding body is not a JSON object"))?;
    match d.get_item("data")? {
        Some(v) if v.is_instance_of::<PyList>() => {}
        _ => return Err(PyValueError::new_err("embedding body has no 'data' list")),
    }
    let out = shape_model(d, &EMBEDDING_RESPONSE, false, Unset::Fill, &Path::ROOT)?;
    if decode_base64 {
        let py = obj.py();
        if let Some(data) = out.get_item("data")? {
            for item in data.cast::<PyList>()?.iter() {
                let Ok(item) = item.cast::<PyDict>() else {
                    continue;
                };
                let Some(emb) = item.get_item("embedding")? else {
                    continue;
                };
                let Ok(s) = emb.cast::<PyString>() else {
                    continue;
                };
                let raw = base64_decode(s.to_str()?.as_bytes())
                    .ok_or_else(|| PyValueError::new_err("embedding is not valid base64"))?;
                if raw.len() % 4 != 0 {
                    return Err(PyValueError::new_err(
                        "base64 embedding length is not a multiple of 4 bytes",
                    ));
                }
                let floats = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64);
                item.set_item("embedding", PyList::new(py, floats)?)?;
            }
        }
    }
    Ok(out)
}

/// Standard alphabet with padding, as `base64.b64decode` accepts it (non-alphabet
/// characters are discarded there too, in its default non-validating mode).
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    let mut pad = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                continue;
            }
            _ => continue,
        };
        if pad > 0 {
            return None;
        }
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `openai_schema(generation=None) -> dict[str, list[str]]`: the declared field names we
/// mirror, per SDK model, in order, for that SDK generation (default: the one in use). Lets
/// Python check them against the installed SDK before relying on them.
#[pyfunction]
#[pyo3(signature = (generation = None))]
pub fn openai_schema<'py>(py: Python<'py>, generation: Option<u8>) -> PyResult<Bound<'py, PyDict>> {
    let generation = generation.unwrap_or_else(|| GENERATION.load(Ordering::Relaxed));
    let d = PyDict::new(py);
    for m in ALL_MODELS {
        let names: Vec<_> = m.fields.iter().filter(|f| f.since <= generation).map(|f| f.name).collect();
        d.set_item(m.name, names)?;
    }
    Ok(d)
}

/// `use_openai_schema(generation)`: reproduce that SDK generation's models from now on.
#[pyfunction]
pub fn use_openai_schema(generation: u8) -> PyResult<()> {
    if !(2..=3).contains(&generation) {
        return Err(PyValueError::new_err(format!("no openai {generation}.x schema in the core")));
    }
    GENERATION.store(generation, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_python() {
        assert_eq!(
            base64_decode(b"AACAPwAAAEA=").unwrap(),
            vec![0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]
        );
        assert_eq!(base64_decode(b"aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode(b"aGk").unwrap(), b"hi");
        assert!(base64_decode(b"aG=k").is_none());
    }

    fn first_message_keys(out: &Bound<'_, PyDict>) -> Vec<String> {
        let msg = out
            .get_item("choices")
            .unwrap()
            .unwrap()
            .get_item(0)
            .unwrap()
            .get_item("message")
            .unwrap();
        msg.cast::<PyDict>().unwrap().keys().extract().unwrap()
    }

    #[test]
    fn shape_excluding_unset_leaves_out_only_what_the_body_lacks() {
        Python::initialize();
        Python::attach(|py| {
            let body = crate::pyjson::loads(
                py,
                br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"stop"}],"created":1,"model":"m","object":"chat.completion","extra":1}"#,
            )
            .unwrap();
            let out = openai_sdk_shape(&body, true).unwrap();
            let keys: Vec<String> = out.keys().extract().unwrap();
            assert_eq!(keys, ["id", "choices", "created", "model", "object", "extra"]);
            let mkeys = first_message_keys(&out);
            // An explicit null is set; the absent refusal, tool calls... are not.
            assert_eq!(mkeys, ["content", "role"]);
        });
    }

    #[test]
    fn shape_fills_missing_and_keeps_extras_in_order() {
        Python::initialize();
        Python::attach(|py| {
            let body = crate::pyjson::loads(
                py,
                br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi","reasoning_content":"r"},"finish_reason":"stop"}],"created":1,"model":"m","object":"chat.completion","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"extra":{"a":[1]}}"#,
            )
            .unwrap();
            let out = openai_sdk_shape(&body, false).unwrap();
            let keys: Vec<String> = out.keys().extract().unwrap();
            assert_eq!(
                keys,
                [
                    "id",
                    "choices",
                    "created",
                    "model",
                    "object",
                    "moderation",
                    "service_tier",
                    "system_fingerprint",
                    "usage",
                    "extra"
                ]
            );
            let mkeys = first_message_keys(&out);
            assert_eq!(
                mkeys,
                [
                    "content",
                    "refusal",
                    "role",
                    "annotations",
                    "audio",
                    "function_call",
                    "tool_calls",
                    "reasoning_content"
                ]
            );
            // Extras are copies, not the parsed objects themselves.
            let extra_in = body.get_item("extra").unwrap();
            let extra_out = out.get_item("extra").unwrap().unwrap();
            assert!(!extra_in.is(&extra_out));
            assert!(extra_in.eq(&extra_out).unwrap());
        });
    }

    #[test]
    fn shape_refuses_coercions_and_bad_shapes() {
        Python::initialize();
        Python::attach(|py| {
            let coerce = crate::pyjson::loads(
                py,
                br#"{"choices":[{"message":{}}],"usage":{"prompt_tokens":"3"}}"#,
            )
            .unwrap();
            assert!(openai_sdk_shape(&coerce, false)
                .unwrap_err()
                .is_instance_of::<ShapeUnsupported>(py));
            // The same string outside an Optional is kept as is, as construct() does.
            let raw =
                crate::pyjson::loads(py, br#"{"choices":[{"message":{},"index":"3"}]}"#).unwrap();
            let out = openai_sdk_shape(&raw, false).unwrap();
            let idx = out
                .get_item("choices")
                .unwrap()
                .unwrap()
                .get_item(0)
                .unwrap()
                .get_item("index")
                .unwrap();
            assert_eq!(idx.extract::<String>().unwrap(), "3");
            for bad in [
                &br#"[]"#[..],
                br#"{"choices":{}}"#,
                br#"{}"#,
                br#"{"choices":[1]}"#,
                br#"{"choices":[{}]}"#,
            ] {
                let v = crate::pyjson::loads(py, bad).unwrap();
                let e = openai_sdk_shape(&v, false).unwrap_err();
                assert!(
                    e.is_instance_of::<PyValueError>(py)
                        && !e.is_instance_of::<ShapeUnsupported>(py)
                );
            }
        });
    }
}

/// Steady frames of an OpenAI-style chat completion stream (`frames.rs`): one `data:` event,
/// a one-choice `chat.completion.chunk` whose only varying text is the choice's delta: its
/// content, its reasoning (`reasoning_content`, or OpenRouter's `reasoning`), or the first
/// tool call's argument fragment. OpenAI pads chunks with a random `obfuscation` string,
/// which varies too.
pub static STEADY_FRAMES: crate::wire::SteadyFrames = {
    use crate::wire::{optional_value, text, Framing, Kind, Slot, SteadyFrames, Step::*};
    const OBFUSCATION: Slot = optional_value(&[Key("obfuscation")]);
    SteadyFrames {
        framing: Framing::Sse,
        kinds: &[
            Kind { slots: &[text(&[Key("choices"), Index(0), Key("delta"), Key("content")]), OBFUSCATION], text_excludes: &[] },
            Kind {
                slots: &[text(&[Key("choices"), Index(0), Key("delta"), Key("reasoning_content")]), OBFUSCATION],
                text_excludes: &[],
            },
            Kind { slots: &[text(&[Key("choices"), Index(0), Key("delta"), Key("reasoning")]), OBFUSCATION], text_excludes: &[] },
            Kind {
                slots: &[
                    text(&[Key("choices"), Index(0), Key("delta"), Key("tool_calls"), Index(0), Key("function"), Key("arguments")]),
                    OBFUSCATION,
                ],
                text_excludes: &[],
            },
        ],
    }
};
