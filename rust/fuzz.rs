//! Property tests: everything that parses bytes from the network takes arbitrary input
//! without panicking, and where a stdlib reference exists, agrees with it. Bounded (a few
//! hundred cases each, no persistence files) so `cargo test --lib` stays well under a minute.
//!
//! A panic inside a #[pyfunction] would surface in Python as PanicException (not an Exception
//! subclass, so no `except Exception` in the host app catches it); here it fails the test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

fn with_py<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    Python::initialize();
    Python::attach(f)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// Inputs

/// Pieces JSON is made of, plus the usual suspects (escapes, surrogates, multi-byte UTF-8,
/// invalid UTF-8, NaN/Infinity literals, huge numbers), so random concatenations are
/// sometimes valid and often almost valid.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\"",
    b"\\",
    b" ",
    b"\n",
    b"\t",
    b"0",
    b"1",
    b"-",
    b"+",
    b".",
    b"e",
    b"E",
    b"9",
    b"true",
    b"false",
    b"null",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"\"a\"",
    b"\"choices\"",
    b"\"message\"",
    b"\\u00e9",
    b"\\ud83d",
    b"\\ude00",
    b"\\uZZZZ",
    b"\\n",
    b"\\/",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"\xed\xa0\x80",
    b"\x00",
    b"\x1f",
    b"12345678901234567890123",
    b"1e400",
    b"-0",
    b"0.5",
    b"\xef\xbb\xbf",
];

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|parts| parts.concat())
}

/// Valid JSON text of arbitrary shape.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "[ -~é😀\\\\\"]{0,12}".prop_map(|s| {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    '"' => "\\\"".to_string(),
                    '\\' => "\\\\".to_string(),
                    c => c.to_string(),
                })
                .collect();
            format!("\"{escaped}\"")
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z_]{0,8}", inner), 0..6).prop_map(|kv| {
                let items: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", items.join(", "))
            }),
        ]
    })
}

/// Valid JSON, then damaged: cut short, a byte replaced, or a byte inserted.
fn damaged_json() -> impl Strategy<Value = Vec<u8>> {
    (
        json_text(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..3u8,
    )
        .prop_map(|(text, at, byte, how)| {
            let mut b = text.into_bytes();
            if b.is_empty() {
                return b;
            }
            let i = at.index(b.len());
            match how {
                0 => b.truncate(i),
                1 => b[i] = byte,
                _ => b.insert(i, byte),
            }
            b
        })
}

/// A JSON string whose inside is arbitrary bytes drawn mostly from the tricky ones.
fn raw_string() -> impl Strategy<Value = Vec<u8>> {
    let byte_runs = prop_oneof![
        prop::sample::select(TOKENS).prop_map(|t| t.to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            0xedu8, 0xa0, 0xb0, 0x80, 0xbf, 0xc0, 0xf4, 0x90, 0xf5, 0xe0
        ])
        .prop_map(|b| vec![b]),
    ];
    prop::collection::vec(byte_runs, 0..12).prop_map(|runs| {
        let mut out = vec![b'"'];
        out.extend(runs.concat());
        out.push(b'"');
        out
    })
}

fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        raw_string(),
        raw_string().prop_map(|s| [b"{".as_slice(), &s, b":1}"].concat()),
        prop::collection::vec(any::<u8>(), 0..64),
        token_soup(),
        json_text().prop_map(String::into_bytes),
        damaged_json(),
    ]
}

// ---------------------------------------------------------------------------------------
// pyjson::loads against json.loads

/// Where `json.loads(bytes)` would decode as UTF-8: it sniffs UTF-16/32 from NUL bytes in
/// the first four bytes and from their BOMs, which no provider sends (and httpx's own
/// `Response.json()` path differs there too). Everything else must agree.
fn python_reads_utf8(b: &[u8]) -> bool {
    !b.iter().take(4).any(|&c| c == 0) && !b.starts_with(b"\xff\xfe") && !b.starts_with(b"\xfe\xff")
}

fn check_loads(py: Python<'_>, input: &[u8]) -> Result<(), TestCaseError> {
    let json = py.import("json").unwrap();
    let builtins = py.import("builtins").unwrap();
    let ours = crate::pyjson::loads(py, input);
    if let Err(e) = &ours {
        prop_assert!(
            e.is_instance_of::<PyValueError>(py),
            "loads raised {} for {:?}",
            e,
            String::from_utf8_lossy(input)
        );
    }
    if !python_reads_utf8(input) {
        return Ok(());
    }
    let theirs = json.call_method1("loads", (PyBytes::new(py, input),));
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            // repr tells int from float, key order and NaN apart, where == would not.
            let ra: String = builtins
                .call_method1("repr", (a,))
                .unwrap()
                .extract()
                .unwrap();
            let rb: String = builtins
                .call_method1("repr", (b,))
                .unwrap()
                .extract()
                .unwrap();
            prop_assert_eq!(ra, rb, "input {:?}", String::from_utf8_lossy(input));
        }
        (Err(_), Err(_)) => {}
        (a, b) => prop_assert!(
            false,
            "loads and json.loads disagree on {:?}: ours ok={} stdlib ok={}",
            String::from_utf8_lossy(input),
            a.is_ok(),
            b.is_ok()
        ),
    }
    Ok(())
}

#[test]
fn loads_agrees_with_json_loads_on_any_bytes() {
    with_py(|py| {
        TestRunner::new(config(4000))
            .run(&any_body(), |input| check_loads(py, &input))
            .unwrap();
    });
}

#[test]
fn loads_survives_deep_nesting() {
    with_py(|py| {
        for depth in [511usize, 512, 513, 5000, 100_000] {
            for open in [b"[", b"{"] {
                let mut input = Vec::new();
                for _ in 0..depth {
                    input.extend_from_slice(open);
                    if open == b"{" {
                        input.extend_from_slice(b"\"k\":");
                    }
                }
                // Unterminated and too deep: an error, never a stack overflow.
                let r = crate::pyjson::loads(py, &input);
                assert!(r.is_err());
                assert!(r.unwrap_err().is_instance_of::<PyValueError>(py));
            }
        }
    });
}

#[test]
fn dumps_round_trips_and_matches_stdlib() {
    with_py(|py| {
        let json = py.import("json").unwrap();
        let kw = PyDict::new(py);
        kw.set_item("ensure_ascii", false).unwrap();
        kw.set_item("separators", (",", ":")).unwrap();
        kw.set_item("allow_nan", false).unwrap();
        TestRunner::new(config(400))
            .run(&json_text(), |text| {
                let value = json.call_method1("loads", (text.as_str(),)).unwrap();
                let ours = crate::pyjson::dumps(py, &value).unwrap();
                let theirs: String = json
                    .call_method("dumps", (&value,), Some(&kw))
                    .unwrap()
                    .extract()
                    .unwrap();
                prop_assert_eq!(String::from_utf8(ours.clone()).unwrap(), theirs);
                let back = crate::pyjson::loads(py, &ours).unwrap();
                prop_assert!(back.eq(&value).unwrap());
                Ok(())
            })
            .unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// The OpenAI response shapers: any JSON a server returns is shaped or refused with a
// ValueError (the caller then replays it through the SDK), never anything else.

/// A chat completion / embedding body skeleton with arbitrary values in the fields the
/// shapers descend into.
fn openai_like() -> impl Strategy<Value = String> {
    let any_json = json_text();
    let field = prop::sample::select(vec![
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
        "service_tier",
        "message",
        "content",
        "role",
        "tool_calls",
        "function",
        "arguments",
        "name",
        "type",
        "logprobs",
        "finish_reason",
        "index",
        "refusal",
        "annotations",
        "audio",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "completion_tokens_details",
        "prompt_tokens_details",
        "data",
        "embedding",
        "top_logprobs",
        "token",
        "bytes",
        "logprob",
        "extra",
    ]);
    let member = (field, any_json).prop_map(|(k, v)| format!("\"{k}\":{v}"));
    let object = prop::collection::vec(member, 0..8)
        .prop_map(|m| format!("{{{}}}", m.join(",")))
        .boxed();
    (object.clone(), object.clone(), object, 0..4u8).prop_map(|(outer, choice, message, how)| {
        let inner = |o: &str, extra: &str| -> String {
            if o == "{}" {
                format!("{{{extra}}}")
            } else {
                format!("{},{extra}}}", &o[..o.len() - 1])
            }
        };
        match how {
            0 => outer,
            1 => inner(
                &outer,
                &format!(
                    "\"choices\":[{}]",
                    inner(&choice, &format!("\"message\":{message}"))
                ),
            ),
            2 => inner(&outer, &format!("\"data\":[{choice}],\"object\":\"list\"")),
            _ => format!("[{outer}]"),
        }
    })
}

#[test]
fn shapers_take_any_json() {
    with_py(|py| {
        TestRunner::new(config(2000))
            .run(&openai_like(), |text| {
                let Ok(obj) = crate::pyjson::loads(py, text.as_bytes()) else {
                    return Ok(());
                };
                for result in [
                    crate::openai::openai_sdk_shape(&obj, false).map(|_| ()),
                    crate::openai::openai_sdk_shape(&obj, true).map(|_| ()),
                    crate::openai::openai_sdk_shape_embedding(&obj, false).map(|_| ()),
                    crate::openai::openai_sdk_shape_embedding(&obj, true).map(|_| ()),
                ] {
                    if let Err(e) = result {
                        prop_assert!(e.is_instance_of::<PyValueError>(py), "{e} for {text}");
                    }
                }
                Ok(())
            })
            .unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// Retry-After and HTTP dates

fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 .eE+\\-_a-zA-Z,:]{0,40}",
        (
            prop::sample::select(vec!["Mon", "Tue", "Sun", "Sunday", "Xyz", ""]),
            0..40u32,
            prop::sample::select(vec!["Jan", "Feb", "Nov", "Dec", "Foo"]),
            -5..100_000i64,
            0..30u32,
            0..70u32,
            0..70u32,
            prop::sample::select(vec![
                "GMT", "UTC", "+0100", "-2359", "+9999", "EST", "Z", ""
            ]),
        )
            .prop_map(|(dow, d, mon, y, h, mi, s, tz)| format!(
                "{dow}, {d:02} {mon} {y} {h:02}:{mi:02}:{s:02} {tz}"
            )),
    ]
}

#[test]
fn retry_after_takes_any_header_value() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    TestRunner::new(config(3000))
        .run(&(header_text(), header_text()), |(after, after_ms)| {
            let lookup = |name: &str| match name {
                "retry-after" => Some(after.clone()),
                "retry-after-ms" => Some(after_ms.clone()),
                _ => None,
            };
            let _ = crate::retry::parse_retry_after(&lookup, now);
            let _ = crate::retry::parse_http_date(&after);
            // Whatever the header says, the delay the policy picks is a real duration.
            let status = crate::retry::Outcome::Response {
                status: 429,
                header: &lookup,
            };
            let mut jitter = crate::retry::Jitter::new();
            if let Some(d) = crate::retry::next_delay(
                crate::retry::Policy::OpenAiSdk,
                &status,
                0,
                2,
                SystemTime::now(),
                &mut jitter,
            ) {
                prop_assert!(d <= Duration::from_secs(120), "{d:?} for {after:?}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn http_dates_agree_with_email_utils() {
    // Well-formed dates (what servers send): the same instant as Python's
    // email.utils.parsedate_tz + mktime_tz, which the SDK uses.
    with_py(|py| {
        let utils = py.import("email.utils").unwrap();
        let dates = (
            prop::sample::select(vec!["Mon, ", "Sun, ", ""]),
            1..29u32,
            prop::sample::select(vec![
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ]),
            1971..2100i64,
            0..24u32,
            0..60u32,
            0..60u32,
            prop::sample::select(vec!["GMT", "UTC", "+0100", "-0530", "+0000"]),
        )
            .prop_map(|(dow, d, mon, y, h, mi, s, tz)| {
                format!("{dow}{d:02} {mon} {y} {h:02}:{mi:02}:{s:02} {tz}")
            });
        TestRunner::new(config(500))
            .run(&dates, |date| {
                let ours = crate::retry::parse_http_date(&date);
                let parsed = utils
                    .call_method1("parsedate_tz", (date.as_str(),))
                    .unwrap();
                let theirs: Option<i64> = if parsed.is_none() {
                    None
                } else {
                    Some(
                        utils
                            .call_method1("mktime_tz", (parsed,))
                            .unwrap()
                            .extract()
                            .unwrap(),
                    )
                };
                prop_assert_eq!(ours, theirs, "{}", date);
                Ok(())
            })
            .unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// Response bodies with a Content-Encoding

#[test]
fn content_decoding_takes_any_bytes() {
    let encodings = prop::sample::select(vec![
        "gzip",
        "deflate",
        "x-gzip",
        "identity",
        "br",
        "gzip, deflate",
        "deflate, gzip",
        "GZIP",
        "",
    ]);
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Real gzip/zlib streams, then damaged: the decoder must stop, not spin or panic.
        (
            prop::collection::vec(any::<u8>(), 0..256),
            any::<prop::sample::Index>(),
            0..3u8
        )
            .prop_map(|(plain, at, how)| {
                use std::io::Write;
                let mut out = if how == 0 {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&plain).unwrap();
                    e.finish().unwrap()
                } else {
                    let mut e =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&plain).unwrap();
                    e.finish().unwrap()
                };
                let i = at.index(out.len());
                if how == 2 {
                    out[i] ^= 0x5a;
                } else {
                    out.truncate(i);
                }
                out
            }),
    ];
    TestRunner::new(config(1000))
        .run(&(encodings, bodies), |(encoding, body)| {
            let mut headers = reqwest::header::HeaderMap::new();
            if !encoding.is_empty() {
                headers.insert(
                    reqwest::header::CONTENT_ENCODING,
                    reqwest::header::HeaderValue::from_static(encoding),
                );
            }
            let _ = crate::http::decode_content(&headers, bytes::Bytes::from(body));
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Anthropic, Gemini and Ollama formats

/// (format, path, request stock would send, a documented whole answer to damage).
const FORMAT_CASES: &[(&str, &str, &str, &str)] = &[
    (
        "anthropic",
        "/v1/messages",
        r#"{"model":"claude-sonnet-4-20250514","max_tokens":1024,"messages":[{"role":"user","content":"Hello, world"}]}"#,
        r#"{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"thinking","thinking":"Hm.","signature":"EqQB"},{"type":"text","text":"Hi! My name is Claude."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":2095,"output_tokens":503,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"#,
    ),
    (
        "gemini",
        "/v1beta/models/gemini-2.0-flash:generateContent",
        r#"{"contents":[{"parts":[{"text":"Explain how AI works"}]}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"AI learns.","thought":true},{"functionCall":{"name":"f","args":{"a":1}}}],"role":"model"},"finishReason":"STOP","safetyRatings":[{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"}],"index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":9,"totalTokenCount":17,"thoughtsTokenCount":2},"modelVersion":"gemini-2.0-flash","responseId":"mcHnaNu0"}"#,
    ),
    (
        "gemini",
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}}]}"#,
        r#"{"embeddings":[{"values":[0.013168523,-0.008711934,1e-3,0]}]}"#,
    ),
    (
        "ollama",
        "/api/chat",
        r#"{"model":"llama3.2","messages":[{"role":"user","content":"why is the sky blue?"}],"stream":false}"#,
        r#"{"model":"llama3.2","created_at":"2023-12-12T14:13:43.416799Z","message":{"role":"assistant","content":"Hello!","tool_calls":[{"function":{"name":"f","arguments":{"x":1}}}]},"done":true,"done_reason":"stop","total_duration":5191566416,"eval_count":298}"#,
    ),
    (
        "ollama",
        "/api/generate",
        r#"{"model":"llama3.2","prompt":"Why is the sky blue?","stream":false}"#,
        r#"{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"Blue.","done":true,"context":[1,2,3],"eval_count":290}"#,
    ),
    (
        "ollama",
        "/api/embed",
        r#"{"model":"all-minilm","input":["a","b"]}"#,
        r#"{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862],[0.5,1e-7]],"prompt_eval_count":8}"#,
    ),
];

/// A documented answer, damaged the way `damaged_json` damages arbitrary JSON.
fn damaged_answer() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (
        0..FORMAT_CASES.len(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..4u8,
    )
        .prop_map(|(case, at, byte, how)| {
            let mut b = FORMAT_CASES[case].3.as_bytes().to_vec();
            let i = at.index(b.len());
            match how {
                0 => b.truncate(i),
                1 => b[i] = byte,
                2 => b.insert(i, byte),
                _ => {} // intact
            }
            (case, b)
        })
}

/// Whatever the core hands stock instead of the bytes must be what `json.loads` makes of them.
fn check_answer(py: Python<'_>, case: usize, body: &[u8]) -> Result<(), TestCaseError> {
    let (format, path, request, _) = FORMAT_CASES[case];
    if let Some(ours) = crate::formats::parse_answer(py, format, path, request.as_bytes(), body) {
        let json = py.import("json").unwrap();
        let theirs = json.call_method1("loads", (PyBytes::new(py, body),));
        prop_assert!(
            theirs.is_ok(),
            "accepted what json.loads rejects: {:?}",
            String::from_utf8_lossy(body)
        );
        prop_assert!(ours.eq(theirs.unwrap()).unwrap());
    }
    Ok(())
}

#[test]
fn format_answers_parse_only_what_json_loads_parses_the_same() {
    with_py(|py| {
        for case in 0..FORMAT_CASES.len() {
            let (format, path, request, answer) = FORMAT_CASES[case];
            assert!(
                crate::formats::accepts(format, path, request.as_bytes(), answer.as_bytes()),
                "{path}"
            );
        }
        TestRunner::new(config(2000))
            .run(&damaged_answer(), |(case, body)| {
                check_answer(py, case, &body)
            })
            .unwrap();
        TestRunner::new(config(600))
            .run(&(0..FORMAT_CASES.len(), any_body()), |(case, body)| {
                check_answer(py, case, &body)
            })
            .unwrap();
    });
}

#[test]
fn format_requests_take_any_bytes() {
    TestRunner::new(config(600))
        .run(&(0..FORMAT_CASES.len(), any_body()), |(case, request)| {
            let (format, path, _, answer) = FORMAT_CASES[case];
            let _ = crate::formats::accepts(format, path, &request, answer.as_bytes());
            Ok(())
        })
        .unwrap();
}

/// Stream bytes (SSE or NDJSON built from JSON soup and framing pieces), cut into chunks.
fn stream_bytes() -> impl Strategy<Value = (Vec<u8>, Vec<prop::sample::Index>)> {
    let piece = prop_oneof![
        Just(b"event: ".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b": comment".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"message_start".to_vec()),
        Just(b"content_block_delta".to_vec()),
        Just(br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#.to_vec()),
        Just(br#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}"#.to_vec()),
        Just(br#"{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hi"},"done":false}"#.to_vec()),
        Just(br#"{"error":"boom"}"#.to_vec()),
        damaged_json(),
        token_soup(),
    ];
    (
        prop::collection::vec(piece, 0..24).prop_map(|p| p.concat()),
        prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    )
}

#[test]
fn stream_decoders_take_any_bytes_split_anywhere() {
    use crate::wire::{LineDecoder, SseDecoder};
    TestRunner::new(config(1500))
        .run(&stream_bytes(), |(bytes, cuts)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                chunks.push(&bytes[start..c]);
                start = c;
            }
            let (mut sse, mut whole_sse) = (SseDecoder::new(), SseDecoder::new());
            let mut events = Vec::new();
            for c in &chunks {
                events.extend(sse.feed(c));
            }
            // However the bytes are cut, the same events come out.
            prop_assert_eq!(&events, &whole_sse.feed(&bytes));
            for e in &events {
                let _ = crate::anthropic::decode_stream(e);
                let _ = crate::gemini::decode_stream(e);
            }
            let mut lines = LineDecoder::new();
            for c in &chunks {
                for line in lines.feed(c) {
                    let _ = crate::ollama::decode_stream(crate::ollama::Endpoint::Chat, &line);
                    let _ = crate::ollama::decode_stream(crate::ollama::Endpoint::Generate, &line);
                }
            }
            let _ = lines.finish();
            Ok(())
        })
        .unwrap();
}
