//! Would pydantic's `jiter` serve better than our own `pyjson::loads`? This module answers
//! with data rather than opinion: a correctness cross-check against `json.loads` (run with
//! the normal tests) and an `#[ignore]`d timing (`bench/bench_json.py` runs it).
//!
//! pyjson is the product, so only pyjson is held to `json.loads`; where jiter differs the
//! test prints the case instead of failing, because those differences are what the
//! decision needs to know.
//!
//! Only JSON -> Python is compared: jiter has no Python -> JSON serializer, so
//! `pyjson::dumps` has no counterpart to time against.

use std::hint::black_box;
use std::time::{Duration, Instant};

use jiter::{FloatMode, PartialMode, PythonParse, StringCacheMode};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn with_py<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    Python::initialize();
    Python::attach(f)
}

/// jiter configured to be as close to `json.loads` as it can: NaN/Infinity accepted and
/// duplicate keys not rejected (the stdlib keeps the last). Keys only are cached, because
/// that is what pyjson caches too; caching every string would make the timing compare
/// different amounts of work.
fn jiter_parser() -> PythonParse {
    PythonParse {
        allow_inf_nan: true,
        cache_mode: StringCacheMode::Keys,
        partial_mode: PartialMode::Off,
        catch_duplicate_keys: false,
        float_mode: FloatMode::Float,
    }
}

// ---------------------------------------------------------------------------------------
// Corpus. Shapes follow the providers' public API references; the values are made up.
// ---------------------------------------------------------------------------------------

const OPENAI_CHAT: &str = r#"{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Paris is the capital of France. It has been the country's political and cultural centre since the 10th century \u2014 home to the Louvre, the Eiffel Tower and about 2.1 million people.\n\nWould you like travel tips?",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    },
    {
      "index": 1,
      "message": {
        "role": "assistant",
        "content": null,
        "tool_calls": [
          {
            "id": "call_Jx0WQbYz2bWQ8fYpKxq1Z3nF",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"}
          }
        ],
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "tool_calls"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 58,
    "total_tokens": 77,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_b3f1157249"
}"#;

const OPENAI_CHUNK: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":{"content":" capital"},"logprobs":null,"finish_reason":null}],"usage":null}"#;

const ANTHROPIC_MESSAGE: &str = r#"{
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-20250514",
  "content": [
    {
      "type": "text",
      "text": "The capital of France is Paris. It sits on the Seine in the north of the country and is known for its museums, caf\u00e9s and architecture."
    },
    {
      "type": "tool_use",
      "id": "toolu_01A09q90qw90lq917835lq9",
      "name": "get_weather",
      "input": {"location": "Paris, France", "unit": "celsius"}
    }
  ],
  "stop_reason": "tool_use",
  "stop_sequence": null,
  "usage": {
    "input_tokens": 412,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 87,
    "service_tier": "standard"
  }
}"#;

const GEMINI_ANSWER: &str = r#"{
  "candidates": [
    {
      "content": {
        "parts": [
          {"text": "Paris is the capital of France. It is located on the Seine river and is famous for the Eiffel Tower, the Louvre and Notre-Dame."}
        ],
        "role": "model"
      },
      "finishReason": "STOP",
      "safetyRatings": [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"}
      ],
      "avgLogprobs": -0.08361250162124634,
      "index": 0
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 7,
    "candidatesTokenCount": 29,
    "totalTokenCount": 36,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}],
    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 29}]
  },
  "modelVersion": "gemini-2.0-flash",
  "responseId": "mZ3UaN6fN5-ZnvgPp4qS2Ag"
}"#;

/// 1536 floats as text-embedding-3-small sends them: single-precision values printed in
/// their shortest form, so digit counts vary as in real answers. Deterministic, so every
/// run times the same bytes.
fn openai_embedding() -> String {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut floats = Vec::with_capacity(1536);
    for _ in 0..1536 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let unit = (seed >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
        floats.push(format!("{}", (unit - 0.5) * 0.16));
    }
    format!(
        r#"{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":[{}]}}],"model":"text-embedding-3-small","usage":{{"prompt_tokens":8,"total_tokens":8}}}}"#,
        floats.join(",")
    )
}

fn realistic() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("openai chat", OPENAI_CHAT.as_bytes().to_vec()),
        ("openai embedding", openai_embedding().into_bytes()),
        ("openai chunk", OPENAI_CHUNK.as_bytes().to_vec()),
        ("anthropic message", ANTHROPIC_MESSAGE.as_bytes().to_vec()),
        ("gemini answer", GEMINI_ANSWER.as_bytes().to_vec()),
    ]
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..depth {
        s.push_str(if i % 2 == 0 { "[" } else { "{\"k\":" });
    }
    s.push('1');
    for i in (0..depth).rev() {
        s.push(if i % 2 == 0 { ']' } else { '}' });
    }
    s.into_bytes()
}

fn edge_cases() -> Vec<(&'static str, Vec<u8>)> {
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        ("big int 2**70", text("1180591620717411303424")),
        ("big ints mixed", text("[-1180591620717411303424, 18446744073709551616, 9223372036854775807, -9223372036854775808, 9223372036854775808]")),
        ("-0.0 and -0", text("[-0.0, -0, 0.0, 0]")),
        ("1e400 (inf)", text("[1e400, -1e400, 1e-400]")),
        ("NaN/Infinity literals", text("[NaN, Infinity, -Infinity]")),
        ("duplicate keys", text(r#"{"a":1,"a":2}"#)),
        ("duplicate keys, order", text(r#"{"a":1,"b":2,"a":3}"#)),
        ("lone surrogate", text(r#""\ud800""#)),
        ("lone low surrogate", text(r#""\udc00x""#)),
        ("high surrogate, no low", text(r#""a\ud83dz""#)),
        ("escaped unicode", text(r#""\u00e9\u4e2d\ud83d\ude00\u0000\u001f\/""#)),
        ("raw utf-8", text("\"é中😀\"")),
        ("deep nesting 200", nested(200)),
        ("deep nesting 201", nested(201)),
        ("empty object/array", text("[{}, [], {\"a\": {}}, [[]]]")),
        ("floats 0.1 1e-7 123456789.123456789", text("[0.1, 1e-7, 123456789.123456789]")),
        ("float precision", text("[0.30000000000000004, 3.141592653589793238462643383279, 2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, 9007199254740993.0]")),
        ("int-looking floats", text("[1.0, 1E2, 1e0, 100, 1.5e3]")),
        ("utf-8 BOM", b"\xef\xbb\xbf{\"a\": 1}".to_vec()),
        ("surrounding whitespace", text(" \t\r\n{\"a\": [1, 2]} \n")),
    ]
}

// ---------------------------------------------------------------------------------------
// Correctness
// ---------------------------------------------------------------------------------------

/// A parse outcome in a form that can be compared across parsers: the value's repr (which
/// tells 1 from 1.0, shows float digits, key order and NaN) or the error's type.
enum Outcome<'py> {
    Value(Bound<'py, PyAny>, String),
    Error(String),
}

impl<'py> Outcome<'py> {
    fn of(r: PyResult<Bound<'py, PyAny>>, py: Python<'py>) -> Self {
        match r {
            Ok(v) => {
                let repr = v
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|e| format!("<repr failed: {e}>"));
                Outcome::Value(v, repr)
            }
            Err(e) => Outcome::Error(format!(
                "{}: {}",
                e.get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                e.value(py)
            )),
        }
    }

    fn short(&self) -> String {
        let s = match self {
            Outcome::Value(_, r) => r.clone(),
            Outcome::Error(e) => format!("raises {e}"),
        };
        if s.chars().count() > 120 {
            format!(
                "{}... ({} chars)",
                s.chars().take(120).collect::<String>(),
                s.chars().count()
            )
        } else {
            s
        }
    }

    /// Same value: equal repr, and Python `==` as well unless a NaN is involved (NaN is
    /// never equal to itself, so there repr alone has to do). Two errors count as agreement:
    /// messages differ by design and callers only see "ValueError".
    fn agrees(&self, other: &Outcome<'py>) -> bool {
        match (self, other) {
            (Outcome::Value(a, ra), Outcome::Value(b, rb)) => {
                ra == rb && (ra.contains("nan") || a.eq(b).unwrap_or(false))
            }
            (Outcome::Error(_), Outcome::Error(_)) => true,
            _ => false,
        }
    }
}

#[test]
fn pyjson_matches_json_loads_and_jiter_differences_are_recorded() {
    with_py(|py| {
        let json_loads = py.import("json").unwrap().getattr("loads").unwrap();
        let jiter = jiter_parser();
        let mut pyjson_wrong = Vec::new();
        let mut jiter_differs = Vec::new();
        let cases: Vec<_> = realistic().into_iter().chain(edge_cases()).collect();
        for (name, data) in &cases {
            let stdlib = Outcome::of(json_loads.call1((PyBytes::new(py, data),)), py);
            let ours = Outcome::of(crate::pyjson::loads(py, data), py);
            let theirs = Outcome::of(
                jiter
                    .python_parse(py, data)
                    .map_err(|e| jiter::map_json_error(data, &e)),
                py,
            );
            if !ours.agrees(&stdlib) {
                pyjson_wrong.push(format!(
                    "{name}:\n    json.loads: {}\n    pyjson:     {}",
                    stdlib.short(),
                    ours.short()
                ));
            }
            if !theirs.agrees(&stdlib) {
                jiter_differs.push(format!(
                    "{name}:\n    json.loads: {}\n    jiter:      {}",
                    stdlib.short(),
                    theirs.short()
                ));
            }
        }
        println!(
            "{} cases; jiter differs from json.loads on {}:",
            cases.len(),
            jiter_differs.len()
        );
        for d in &jiter_differs {
            println!("  {d}");
        }
        assert!(
            pyjson_wrong.is_empty(),
            "pyjson differs from json.loads on:\n  {}",
            pyjson_wrong.join("\n  ")
        );
    });
}

// ---------------------------------------------------------------------------------------
// Speed
// ---------------------------------------------------------------------------------------

const ROUNDS: usize = 7;
const ROUND_TARGET: Duration = Duration::from_millis(60);

/// Median ns per call of each parser over ROUNDS rounds, each round sized to take about
/// ROUND_TARGET so timer resolution weighs little. The parsers' rounds are interleaved
/// (A B C, A B C, ...) so that load from other processes on this shared machine falls on
/// all of them alike instead of on whichever ran during a burst; the median rather than
/// the mean because such noise only ever adds time.
fn time_interleaved(parsers: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let sizes: Vec<u64> = parsers.iter_mut().map(|f| calibrate(&mut **f)).collect();
    let mut per_call = vec![Vec::with_capacity(ROUNDS); parsers.len()];
    for _ in 0..ROUNDS {
        for ((f, &n), out) in parsers.iter_mut().zip(&sizes).zip(&mut per_call) {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            out.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    per_call
        .into_iter()
        .map(|mut v| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[ROUNDS / 2]
        })
        .collect()
}

/// Warms up, then finds how many calls make one round of about ROUND_TARGET.
fn calibrate(f: &mut dyn FnMut()) -> u64 {
    // Warm caches, the branch predictor and the parsers' key caches before measuring.
    for _ in 0..200 {
        f();
    }
    let mut n: u64 = 16;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let took = t.elapsed();
        if took >= ROUND_TARGET / 2 {
            let scale = ROUND_TARGET.as_secs_f64() / took.as_secs_f64();
            return ((n as f64 * scale).ceil() as u64).max(1);
        }
        n *= 2;
    }
}

#[test]
#[ignore = "benchmark: run through bench/bench_json.py or with --ignored --nocapture"]
fn json_conversion_speed() {
    with_py(|py| {
        let json_loads = py.import("json").unwrap().getattr("loads").unwrap();
        let jiter = jiter_parser();
        println!(
            "{:<18} {:>7} {:>10} {:>10} {:>14} {:>13}",
            "document", "bytes", "pyjson ns", "jiter ns", "json.loads ns", "jiter/pyjson"
        );
        for (name, data) in realistic() {
            // The bytes object is built once: json.loads is timed on its own work, as it
            // would run on a response body that already exists.
            let body = PyBytes::new(py, &data);
            // Every result is dropped inside the loop, so deallocation is timed too: it is
            // part of what a caller pays per answer, and the parsers build different objects.
            let mut ours = || {
                black_box(crate::pyjson::loads(py, black_box(&data)).unwrap());
            };
            let mut theirs = || {
                black_box(jiter.python_parse(py, black_box(&data)).unwrap());
            };
            let mut stdlib = || {
                black_box(json_loads.call1((black_box(&body),)).unwrap());
            };
            let t = time_interleaved(&mut [&mut ours, &mut theirs, &mut stdlib]);
            let (ours, theirs, stdlib) = (t[0], t[1], t[2]);
            println!(
                "{:<18} {:>7} {:>10.0} {:>10.0} {:>14.0} {:>13.2}",
                name,
                data.len(),
                ours,
                theirs,
                stdlib,
                theirs / ours
            );
        }
    });
}
