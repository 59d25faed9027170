//! JSON text <-> Python objects, with no intermediate tree.
//!
//! A chat completion is parsed on every call, so going through `serde_json::Value` (one
//! allocation per node, then a second walk to build Python objects) would roughly double
//! the cost. Instead the parser emits Python objects directly and the serializer walks
//! Python objects directly, both through the raw C API because PyO3's safe wrappers add
//! type checks and refcount traffic that show up at this granularity.
//!
//! Output is meant to be indistinguishable from the stdlib: `loads` mirrors `json.loads`
//! (ints of any size stay ints, NaN/Infinity literals accepted, duplicate keys: last wins)
//! and `dumps` mirrors httpx's `json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
//! allow_nan=False)` byte for byte, because request bodies are compared against stock
//! (recorded cassettes, signatures) and must not drift.
//!
//! Every function here requires the GIL; the caller proves it by holding a `Python<'py>`.

use std::cell::UnsafeCell;
use std::ffi::{c_char, CStr};
use std::ptr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

/// Python's own json module gives up around the interpreter recursion limit; we stop a
/// bit earlier because our frames live on whatever thread stack the caller has.
const MAX_DEPTH: u32 = 512;

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

enum Fail {
    Syntax(&'static str, usize),
    /// A Python exception is already set (allocation failure, invalid UTF-8 in a string).
    Python,
}

/// Parse JSON bytes into Python objects. Errors are `ValueError` (or a subclass such as
/// `UnicodeDecodeError`), with a message naming the position but never quoting the input:
/// bodies can carry anything, including echoed credentials.
pub fn loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // json.loads(bytes) tolerates a UTF-8 BOM, so must we.
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let mut p = Parser {
        s: data,
        i: 0,
        depth: 0,
        stack: Vec::new(),
        scratch: Vec::new(),
    };
    // SAFETY: the GIL is held (we have `py`), which is all the C API calls below need.
    match unsafe { p.document() } {
        Ok(obj) => Ok(unsafe { Bound::from_owned_ptr(py, obj) }),
        Err(Fail::Python) => Err(PyErr::fetch(py)),
        Err(Fail::Syntax(msg, pos)) => Err(PyValueError::new_err(describe(data, msg, pos))),
    }
}

/// Same wording as `json.JSONDecodeError` so messages look familiar in logs.
fn describe(data: &[u8], msg: &str, pos: usize) -> String {
    let pos = pos.min(data.len());
    let before = &data[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    format!("{msg}: line {line} column {col} (char {pos})")
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
    /// Array items are collected here before the list is allocated at its final size,
    /// so nested arrays share one buffer instead of allocating a Vec each.
    stack: Vec<*mut ffi::PyObject>,
    /// Unescaped string bytes, only used for strings that contain backslashes.
    scratch: Vec<u8>,
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // Only non-empty when parsing failed half way through an array.
        for &obj in &self.stack {
            unsafe { ffi::Py_DECREF(obj) };
        }
    }
}

#[inline]
fn syntax<T>(msg: &'static str, pos: usize) -> Result<T, Fail> {
    Err(Fail::Syntax(msg, pos))
}

#[inline]
unsafe fn new_ref(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    ffi::Py_INCREF(obj);
    obj
}

#[inline]
fn check(obj: *mut ffi::PyObject) -> Result<*mut ffi::PyObject, Fail> {
    if obj.is_null() {
        Err(Fail::Python)
    } else {
        Ok(obj)
    }
}

impl Parser<'_> {
    unsafe fn document(&mut self) -> Result<*mut ffi::PyObject, Fail> {
        let v = self.value()?;
        if self.skip_ws().is_some() {
            ffi::Py_DECREF(v);
            return syntax("Extra data", self.i);
        }
        Ok(v)
    }

    #[inline]
    fn skip_ws(&mut self) -> Option<u8> {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b' ' | b'\n' | b'\r' | b'\t' => self.i += 1,
                _ => return Some(c),
            }
        }
        None
    }

    unsafe fn value(&mut self) -> Result<*mut ffi::PyObject, Fail> {
        let Some(c) = self.skip_ws() else {
            return syntax("Expecting value", self.i);
        };
        match c {
            b'"' => {
                self.i += 1;
                self.string(false)
            }
            b'{' => self.object(),
            b'[' => self.array(),
            b't' => self.literal(b"true", ffi::Py_True()),
            b'f' => self.literal(b"false", ffi::Py_False()),
            b'n' => self.literal(b"null", ffi::Py_None()),
            b'N' => self.special(b"NaN", f64::NAN),
            b'I' => self.special(b"Infinity", f64::INFINITY),
            b'-' if self.s.get(self.i + 1) == Some(&b'I') => {
                self.i += 1;
                let r = self.special(b"Infinity", f64::NEG_INFINITY);
                if r.is_err() {
                    self.i -= 1;
                }
                r
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => syntax("Expecting value", self.i),
        }
    }

    #[inline]
    unsafe fn literal(
        &mut self,
        word: &[u8],
        obj: *mut ffi::PyObject,
    ) -> Result<*mut ffi::PyObject, Fail> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(new_ref(obj))
        } else {
            syntax("Expecting value", self.i)
        }
    }

    unsafe fn special(&mut self, word: &[u8], v: f64) -> Result<*mut ffi::PyObject, Fail> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            check(ffi::PyFloat_FromDouble(v))
        } else {
            syntax("Expecting value", self.i)
        }
    }

    unsafe fn object(&mut self) -> Result<*mut ffi::PyObject, Fail> {
        let start = self.i;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return syntax("Nesting too deep", start);
        }
        self.i += 1;
        let dict = check(ffi::PyDict_New())?;
        match self.object_body(dict) {
            Ok(()) => {
                self.depth -= 1;
                Ok(dict)
            }
            Err(e) => {
                ffi::Py_DECREF(dict);
                Err(e)
            }
        }
    }

    unsafe fn object_body(&mut self, dict: *mut ffi::PyObject) -> Result<(), Fail> {
        if self.skip_ws() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.skip_ws() != Some(b'"') {
                return syntax("Expecting property name enclosed in double quotes", self.i);
            }
            self.i += 1;
            let key = self.string(true)?;
            if self.skip_ws() != Some(b':') {
                ffi::Py_DECREF(key);
                return syntax("Expecting ':' delimiter", self.i);
            }
            self.i += 1;
            let val = match self.value() {
                Ok(v) => v,
                Err(e) => {
                    ffi::Py_DECREF(key);
                    return Err(e);
                }
            };
            let rc = ffi::PyDict_SetItem(dict, key, val);
            ffi::Py_DECREF(key);
            ffi::Py_DECREF(val);
            if rc < 0 {
                return Err(Fail::Python);
            }
            match self.skip_ws() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return syntax("Expecting ',' delimiter", self.i),
            }
        }
    }

    unsafe fn array(&mut self) -> Result<*mut ffi::PyObject, Fail> {
        let start = self.i;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return syntax("Nesting too deep", start);
        }
        self.i += 1;
        let base = self.stack.len();
        if self.skip_ws() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                // On error the items pushed so far stay on the stack; Drop releases them.
                let v = self.value()?;
                self.stack.push(v);
                match self.skip_ws() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return syntax("Expecting ',' delimiter", self.i),
                }
            }
        }
        let n = self.stack.len() - base;
        let list = check(ffi::PyList_New(n as ffi::Py_ssize_t))?;
        for (k, &item) in self.stack[base..].iter().enumerate() {
            // Steals the reference, so the stack entries must not be released again.
            ffi::PyList_SET_ITEM(list, k as ffi::Py_ssize_t, item);
        }
        self.stack.truncate(base);
        self.depth -= 1;
        Ok(list)
    }

    /// Called with `self.i` just past the opening quote.
    unsafe fn string(&mut self, is_key: bool) -> Result<*mut ffi::PyObject, Fail> {
        let start = self.i;
        let s = self.s;
        let mut i = start;
        let mut high = 0u8;
        loop {
            // Eight bytes at a time: most string bytes need no attention at all.
            while i + 8 <= s.len() {
                let w = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
                if needs_attention(w) {
                    break;
                }
                high |= (w & 0x8080_8080_8080_8080 != 0) as u8;
                i += 8;
            }
            let Some(&b) = s.get(i) else {
                return syntax("Unterminated string starting at", start - 1);
            };
            match b {
                b'"' => {
                    self.i = i + 1;
                    return make_str(&s[start..i], high == 0, is_key);
                }
                b'\\' => return self.string_escaped(start, i, is_key),
                0..=0x1f => return syntax("Invalid control character at", i),
                _ => {
                    high |= b & 0x80;
                    i += 1;
                }
            }
        }
    }

    /// Slow path: the string has escapes, so it is rebuilt in `scratch` as (WTF-)8 bytes.
    unsafe fn string_escaped(
        &mut self,
        start: usize,
        mut i: usize,
        is_key: bool,
    ) -> Result<*mut ffi::PyObject, Fail> {
        let s = self.s;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.extend_from_slice(&s[start..i]);
        let mut ascii = s[start..i].is_ascii();
        let result = loop {
            let Some(&b) = s.get(i) else {
                break syntax("Unterminated string starting at", start - 1);
            };
            match b {
                b'"' => {
                    i += 1;
                    break Ok(());
                }
                b'\\' => {
                    let Some(&e) = s.get(i + 1) else {
                        break syntax("Unterminated string starting at", start - 1);
                    };
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => break syntax("Invalid \\escape", i),
                    };
                    if let Some(c) = simple {
                        out.push(c);
                        i += 2;
                        continue;
                    }
                    let Some(mut cp) = hex4(s, i + 2) else {
                        break syntax("Invalid \\uXXXX escape", i + 1);
                    };
                    i += 6;
                    if (0xD800..0xDC00).contains(&cp)
                        && s.get(i) == Some(&b'\\')
                        && s.get(i + 1) == Some(&b'u')
                    {
                        if let Some(lo) = hex4(s, i + 2) {
                            if (0xDC00..0xE000).contains(&lo) {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                i += 6;
                            }
                        }
                    }
                    // A lone surrogate is kept, as Python does: push_utf8 writes it as the
                    // 3-byte generalized UTF-8 that "surrogatepass" decodes (see make_str).
                    if cp >= 0x80 {
                        ascii = false;
                    }
                    push_utf8(&mut out, cp);
                }
                0..=0x1f => break syntax("Invalid control character at", i),
                _ => {
                    if b >= 0x80 {
                        ascii = false;
                    }
                    out.push(b);
                    i += 1;
                }
            }
        };
        let r = match result {
            Ok(()) => {
                self.i = i;
                make_str(&out, ascii, is_key)
            }
            Err(e) => Err(e),
        };
        self.scratch = out;
        r
    }

    unsafe fn number(&mut self) -> Result<*mut ffi::PyObject, Fail> {
        let s = self.s;
        let start = self.i;
        let mut i = start;
        let neg = s[i] == b'-';
        if neg {
            i += 1;
        }
        let int_start = i;
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(s.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return syntax("Expecting value", start),
        }
        let int_end = i;
        let mut is_float = false;
        // Like Python's NUMBER_RE: a '.' or 'e' only belongs to the number when digits
        // follow; otherwise the number ends and the next token is judged on its own.
        if s.get(i) == Some(&b'.') && matches!(s.get(i + 1), Some(b'0'..=b'9')) {
            i += 2;
            while matches!(s.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            is_float = true;
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(s.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if matches!(s.get(j), Some(b'0'..=b'9')) {
                while matches!(s.get(j), Some(b'0'..=b'9')) {
                    j += 1;
                }
                i = j;
                is_float = true;
            }
        }
        self.i = i;
        let text = &s[start..i];
        if is_float {
            // The grammar was checked above, so Rust's parser (correctly rounded, like
            // Python's float()) cannot fail; overflow gives inf exactly as Python does.
            let v: f64 = std::str::from_utf8_unchecked(text)
                .parse()
                .unwrap_or(f64::NAN);
            return check(ffi::PyFloat_FromDouble(v));
        }
        let digits = &s[int_start..int_end];
        if digits.len() <= 18 {
            let mut v: i64 = 0;
            for &d in digits {
                v = v * 10 + (d - b'0') as i64;
            }
            return check(ffi::PyLong_FromLongLong(if neg { -v } else { v }));
        }
        // Beyond i64 precision: let Python build an arbitrary-size int from the digits.
        let mut buf = Vec::with_capacity(text.len() + 1);
        buf.extend_from_slice(text);
        buf.push(0);
        check(ffi::PyLong_FromString(
            buf.as_ptr() as *const c_char,
            ptr::null_mut(),
            10,
        ))
    }
}

#[inline]
fn needs_attention(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    #[inline]
    fn has_zero(v: u64) -> u64 {
        v.wrapping_sub(ONES) & !v & HIGHS
    }
    let quote = has_zero(w ^ (ONES * b'"' as u64));
    let backslash = has_zero(w ^ (ONES * b'\\' as u64));
    // Bytes below 0x20; exact as an "any" test, which is all we need.
    let ctrl = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (quote | backslash | ctrl) != 0
}

fn hex4(s: &[u8], at: usize) -> Option<u32> {
    let h = s.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v * 16 + d as u32;
    }
    Some(v)
}

fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    match cp {
        0..=0x7f => out.push(cp as u8),
        0x80..=0x7ff => out.extend_from_slice(&[0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]),
        0x800..=0xffff => out.extend_from_slice(&[
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]),
        _ => out.extend_from_slice(&[
            0xF0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3F) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]),
    }
}

unsafe fn make_str(bytes: &[u8], ascii: bool, is_key: bool) -> Result<*mut ffi::PyObject, Fail> {
    if ascii {
        if is_key && bytes.len() <= KEY_MAX {
            return KEYS.get(bytes);
        }
        return new_ascii(bytes);
    }
    // json.loads(bytes) decodes the whole document with "surrogatepass" first, so encoded
    // surrogates (ED A0 80 ...) are accepted as raw bytes too, not only as \u escapes.
    // The handler only runs on such bytes: valid UTF-8 takes the same fast path.
    let errors: *const c_char = c"surrogatepass".as_ptr();
    check(ffi::PyUnicode_DecodeUTF8(
        bytes.as_ptr() as *const c_char,
        bytes.len() as ffi::Py_ssize_t,
        errors,
    ))
}

/// ASCII strings skip the UTF-8 decoder: allocate the compact object and copy.
#[inline]
unsafe fn new_ascii(bytes: &[u8]) -> Result<*mut ffi::PyObject, Fail> {
    let obj = check(ffi::PyUnicode_New(bytes.len() as ffi::Py_ssize_t, 127))?;
    ptr::copy_nonoverlapping(
        bytes.as_ptr(),
        ffi::PyUnicode_DATA(obj) as *mut u8,
        bytes.len(),
    );
    Ok(obj)
}

// Dict keys repeat across responses ("id", "choices", "message", "content", ...). Reusing
// the same str objects saves the allocation and, more importantly, the hash computation
// on dict insert, since a str caches its hash. orjson does the same.
const KEY_MAX: usize = 32;
const KEY_SLOTS: usize = 1024;

#[derive(Clone, Copy)]
struct KeySlot {
    len: u8,
    bytes: [u8; KEY_MAX],
    obj: *mut ffi::PyObject,
}

struct KeyCache(UnsafeCell<[KeySlot; KEY_SLOTS]>);

// SAFETY: only touched with the GIL held (the module declares it needs the GIL), which
// serializes all access.
unsafe impl Sync for KeyCache {}

static KEYS: KeyCache = KeyCache(UnsafeCell::new(
    [KeySlot {
        len: 0,
        bytes: [0; KEY_MAX],
        obj: ptr::null_mut(),
    }; KEY_SLOTS],
));

impl KeyCache {
    unsafe fn get(&self, key: &[u8]) -> Result<*mut ffi::PyObject, Fail> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let slot = &mut (*self.0.get())[(h as usize ^ (h >> 32) as usize) & (KEY_SLOTS - 1)];
        if !slot.obj.is_null() && slot.len as usize == key.len() && &slot.bytes[..key.len()] == key
        {
            return Ok(new_ref(slot.obj));
        }
        let obj = new_ascii(key)?;
        // Hash now so every later dict insert with this key gets it for free.
        if ffi::PyObject_Hash(obj) == -1 {
            ffi::Py_DECREF(obj);
            return Err(Fail::Python);
        }
        let old = slot.obj;
        slot.obj = new_ref(obj);
        slot.len = key.len() as u8;
        slot.bytes[..key.len()].copy_from_slice(key);
        if !old.is_null() {
            ffi::Py_DECREF(old);
        }
        Ok(obj)
    }
}

/// A str for a short ASCII name, shared with the parser's key cache: the same object
/// (hash already computed) that `loads` puts in parsed dicts for that key.
pub fn cached_key<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, pyo3::types::PyString>> {
    let r = unsafe {
        if name.is_ascii() && name.len() <= KEY_MAX {
            KEYS.get(name.as_bytes())
        } else {
            check(ffi::PyUnicode_FromStringAndSize(
                name.as_ptr() as *const c_char,
                name.len() as ffi::Py_ssize_t,
            ))
        }
    };
    match r {
        Ok(p) => Ok(unsafe { Bound::from_owned_ptr(py, p).cast_into_unchecked() }),
        Err(_) => Err(PyErr::fetch(py)),
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

enum EncodeFail {
    /// Message for a `TypeError` (unsupported value); formatted lazily.
    Type(String),
    Python,
}

/// Serialize like httpx does for `json=`: compact separators, UTF-8 kept as is, NaN and
/// infinities refused. Anything we cannot represent exactly the way json.dumps would is a
/// `TypeError`, raised before any byte is sent, so callers can fall back to the stock path.
pub fn dumps(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        depth: 0,
    };
    match unsafe { w.value(obj.as_ptr()) } {
        Ok(()) => Ok(w.out),
        Err(EncodeFail::Type(msg)) => Err(PyTypeError::new_err(msg)),
        Err(EncodeFail::Python) => Err(PyErr::fetch(py)),
    }
}

struct Writer {
    out: Vec<u8>,
    depth: u32,
}

unsafe fn type_name(obj: *mut ffi::PyObject) -> String {
    let tp = ffi::Py_TYPE(obj);
    CStr::from_ptr((*tp).tp_name).to_string_lossy().into_owned()
}

fn not_serializable(name: String) -> EncodeFail {
    EncodeFail::Type(format!("Object of type {name} is not JSON serializable"))
}

impl Writer {
    unsafe fn value(&mut self, obj: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        let tp = ffi::Py_TYPE(obj);
        // Exact-type checks first: they are pointer compares, and cover nearly everything.
        if tp == &raw mut ffi::PyUnicode_Type {
            return self.str(obj);
        }
        if tp == &raw mut ffi::PyDict_Type {
            return self.dict(obj);
        }
        if tp == &raw mut ffi::PyList_Type {
            return self.seq(obj, list_size, list_item);
        }
        if obj == ffi::Py_None() {
            self.out.extend_from_slice(b"null");
            return Ok(());
        }
        // bool must be tested before int: it is an int subclass, but serializes as a word.
        if obj == ffi::Py_True() {
            self.out.extend_from_slice(b"true");
            return Ok(());
        }
        if obj == ffi::Py_False() {
            self.out.extend_from_slice(b"false");
            return Ok(());
        }
        if tp == &raw mut ffi::PyLong_Type {
            return self.int(obj);
        }
        if tp == &raw mut ffi::PyFloat_Type {
            return self.float(obj);
        }
        if tp == &raw mut ffi::PyTuple_Type {
            return self.seq(obj, tuple_size, tuple_item);
        }
        // Subclasses (str/int enums, OrderedDict, ...) get json.dumps' isinstance treatment.
        if ffi::PyUnicode_Check(obj) != 0 {
            return self.str(obj);
        }
        if ffi::PyLong_Check(obj) != 0 {
            return self.int(obj);
        }
        if ffi::PyFloat_Check(obj) != 0 {
            return self.float(obj);
        }
        if ffi::PyDict_Check(obj) != 0 {
            return self.dict_subclass(obj);
        }
        if ffi::PyList_Check(obj) != 0 {
            return self.seq(obj, list_size, list_item);
        }
        if ffi::PyTuple_Check(obj) != 0 {
            return self.seq(obj, tuple_size, tuple_item);
        }
        Err(not_serializable(type_name(obj)))
    }

    #[inline]
    fn enter(&mut self) -> Result<(), EncodeFail> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(EncodeFail::Type(
                "Nesting too deep (or circular reference) for JSON".into(),
            ));
        }
        Ok(())
    }

    unsafe fn str(&mut self, obj: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        let mut len: ffi::Py_ssize_t = 0;
        // For ASCII strings this is the object's own buffer; otherwise CPython caches the
        // UTF-8 form on the object. Lone surrogates fail here, as `.encode()` would in httpx.
        let p = ffi::PyUnicode_AsUTF8AndSize(obj, &mut len);
        if p.is_null() {
            return Err(EncodeFail::Python);
        }
        write_escaped(
            &mut self.out,
            std::slice::from_raw_parts(p as *const u8, len as usize),
        );
        Ok(())
    }

    unsafe fn int(&mut self, obj: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        let mut overflow = 0;
        let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
        if overflow == 0 {
            if v == -1 && !ffi::PyErr_Occurred().is_null() {
                return Err(EncodeFail::Python);
            }
            write_i64(&mut self.out, v);
            return Ok(());
        }
        // json.dumps uses int.__repr__ (not the subclass's), so an IntEnum prints its value.
        let repr = (ffi::PyLong_Type.tp_repr.unwrap())(obj);
        if repr.is_null() {
            return Err(EncodeFail::Python);
        }
        let r = self.ascii_of(repr);
        ffi::Py_DECREF(repr);
        r
    }

    unsafe fn float(&mut self, obj: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        let v = ffi::PyFloat_AS_DOUBLE(obj);
        if !v.is_finite() {
            return Err(EncodeFail::Type(format!(
                "Out of range float values are not JSON compliant: {v}"
            )));
        }
        // float.__repr__ is exactly this call; using it keeps "1e+16", "1e-05" and "1.0"
        // identical to json.dumps rather than merely equivalent.
        let p = ffi::PyOS_double_to_string(
            v,
            b'r' as c_char,
            0,
            ffi::Py_DTSF_ADD_DOT_0,
            ptr::null_mut(),
        );
        if p.is_null() {
            return Err(EncodeFail::Python);
        }
        self.out.extend_from_slice(CStr::from_ptr(p).to_bytes());
        ffi::PyMem_Free(p as *mut std::ffi::c_void);
        Ok(())
    }

    unsafe fn ascii_of(&mut self, s: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        let mut len: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(s, &mut len);
        if p.is_null() {
            return Err(EncodeFail::Python);
        }
        self.out
            .extend_from_slice(std::slice::from_raw_parts(p as *const u8, len as usize));
        Ok(())
    }

    unsafe fn seq(
        &mut self,
        obj: *mut ffi::PyObject,
        size: unsafe fn(*mut ffi::PyObject) -> ffi::Py_ssize_t,
        get: unsafe fn(*mut ffi::PyObject, ffi::Py_ssize_t) -> *mut ffi::PyObject,
    ) -> Result<(), EncodeFail> {
        self.enter()?;
        self.out.push(b'[');
        // Size re-read and item held each step: a dict subclass further down runs Python
        // code (its `items()`), which could mutate this list while we are inside it.
        let mut i = 0;
        while i < size(obj) {
            if i > 0 {
                self.out.push(b',');
            }
            let item = new_ref(get(obj, i));
            let r = self.value(item);
            ffi::Py_DECREF(item);
            r?;
            i += 1;
        }
        self.out.push(b']');
        self.depth -= 1;
        Ok(())
    }

    unsafe fn key(&mut self, key: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        if ffi::PyUnicode_Check(key) == 0 {
            return Err(EncodeFail::Type(format!(
                "Dict keys must be str, not {}",
                type_name(key)
            )));
        }
        self.str(key)?;
        self.out.push(b':');
        Ok(())
    }

    unsafe fn dict(&mut self, obj: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        self.enter()?;
        self.out.push(b'{');
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = ptr::null_mut();
        let mut v: *mut ffi::PyObject = ptr::null_mut();
        let mut first = true;
        while ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
            if !first {
                self.out.push(b',');
            }
            first = false;
            // Held for the same reason as list items in `seq`.
            let (k, v) = (new_ref(k), new_ref(v));
            let r = self.key(k).and_then(|()| self.value(v));
            ffi::Py_DECREF(k);
            ffi::Py_DECREF(v);
            r?;
        }
        self.out.push(b'}');
        self.depth -= 1;
        Ok(())
    }

    /// json.dumps iterates `.items()` on dict subclasses, which can differ from the
    /// storage order (OrderedDict.move_to_end), so do the same.
    unsafe fn dict_subclass(&mut self, obj: *mut ffi::PyObject) -> Result<(), EncodeFail> {
        let items = ffi::PyMapping_Items(obj);
        if items.is_null() {
            return Err(EncodeFail::Python);
        }
        let r = (|| {
            self.enter()?;
            self.out.push(b'{');
            let n = ffi::PyList_GET_SIZE(items);
            for i in 0..n {
                if i > 0 {
                    self.out.push(b',');
                }
                let pair = ffi::PyList_GET_ITEM(items, i);
                if ffi::PyTuple_Check(pair) == 0 || ffi::PyTuple_GET_SIZE(pair) != 2 {
                    return Err(EncodeFail::Type(
                        "items() must return (key, value) pairs".into(),
                    ));
                }
                self.key(ffi::PyTuple_GET_ITEM(pair, 0))?;
                self.value(ffi::PyTuple_GET_ITEM(pair, 1))?;
            }
            self.out.push(b'}');
            self.depth -= 1;
            Ok(())
        })();
        ffi::Py_DECREF(items);
        r
    }
}

unsafe fn list_size(o: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    ffi::PyList_GET_SIZE(o)
}
unsafe fn list_item(o: *mut ffi::PyObject, i: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    ffi::PyList_GET_ITEM(o, i)
}
unsafe fn tuple_size(o: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    ffi::PyTuple_GET_SIZE(o)
}
unsafe fn tuple_item(o: *mut ffi::PyObject, i: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    ffi::PyTuple_GET_ITEM(o, i)
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// 0 = copy as is, otherwise the character after the backslash ('u' = \u00XX form).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

fn write_escaped(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        run = i + 1;
        if e == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', e]);
        }
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------
// Python entry points
// ---------------------------------------------------------------------------------------

/// `loads(data: bytes | bytearray | str) -> object`
#[pyfunction]
pub fn py_loads<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    unsafe {
        let p = data.as_ptr();
        if ffi::PyBytes_Check(p) != 0 {
            let s = std::slice::from_raw_parts(
                ffi::PyBytes_AS_STRING(p) as *const u8,
                ffi::PyBytes_Size(p) as usize,
            );
            return loads(py, s);
        }
        if ffi::PyUnicode_Check(p) != 0 {
            let mut len: ffi::Py_ssize_t = 0;
            let u = ffi::PyUnicode_AsUTF8AndSize(p, &mut len);
            if u.is_null() {
                return Err(PyErr::fetch(py));
            }
            return loads(py, std::slice::from_raw_parts(u as *const u8, len as usize));
        }
        if ffi::PyByteArray_Check(p) != 0 {
            // Copy: parsing never runs Python code, but a bytearray is mutable in principle.
            let v = std::slice::from_raw_parts(
                ffi::PyByteArray_AsString(p) as *const u8,
                ffi::PyByteArray_Size(p) as usize,
            )
            .to_vec();
            return loads(py, &v);
        }
    }
    Err(PyTypeError::new_err(format!(
        "the JSON object must be str, bytes or bytearray, not {}",
        data.get_type().name()?
    )))
}

/// `dumps(obj) -> bytes`
#[pyfunction]
pub fn py_dumps<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let v = dumps(py, obj)?;
    Ok(pyo3::types::PyBytes::new(py, &v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::types::PyDict;

    fn with_py<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
        Python::initialize();
        Python::attach(f)
    }

    /// What the stdlib produces for the same input, as the reference.
    fn stdlib_dumps(py: Python<'_>, obj: &Bound<'_, PyAny>) -> Vec<u8> {
        let json = py.import("json").unwrap();
        let kw = PyDict::new(py);
        kw.set_item("ensure_ascii", false).unwrap();
        kw.set_item("separators", (",", ":")).unwrap();
        kw.set_item("allow_nan", false).unwrap();
        let s: String = json
            .call_method("dumps", (obj,), Some(&kw))
            .unwrap()
            .extract()
            .unwrap();
        s.into_bytes()
    }

    fn eval<'py>(py: Python<'py>, src: &str) -> Bound<'py, PyAny> {
        let code = std::ffi::CString::new(src).unwrap();
        py.eval(&code, None, None).unwrap()
    }

    #[test]
    fn dumps_matches_stdlib_byte_for_byte() {
        with_py(|py| {
            for src in [
                r#"{"model": "x", "messages": [{"role": "user", "content": "hi \"there\"\n\t\u0001\u007f é ✓ 😀"}]}"#,
                "[1.0, 0.1, 1e16, 1e-05, 123456789.125, -0.0, 2.5e-300, 1e22, 100.0, 0.0001]",
                "[True, False, None, 0, -1, 2**63, -2**63-1, 10**40, 1.5]",
                "(1, (2, 3), [])",
                "{'a': {}, 'b': [], 'c': ''}",
                "__import__('collections').OrderedDict([('b', 1), ('a', 2)])",
                "__import__('enum').IntEnum('E', 'A B').B",
            ] {
                let obj = eval(py, src);
                assert_eq!(
                    String::from_utf8(dumps(py, &obj).unwrap()).unwrap(),
                    String::from_utf8(stdlib_dumps(py, &obj)).unwrap(),
                    "input {src}"
                );
            }
        });
    }

    #[test]
    fn dumps_refuses_what_it_cannot_mirror() {
        with_py(|py| {
            for src in [
                "b'x'",
                "object()",
                "float('nan')",
                "float('inf')",
                "{1: 2}",
                "{None: 1}",
                "[{(1,): 2}]",
                "{1, 2}",
            ] {
                let err = dumps(py, &eval(py, src)).unwrap_err();
                assert!(err.is_instance_of::<PyTypeError>(py), "{src}: {err}");
            }
            // A cycle must not overflow the stack.
            let l = eval(py, "(lambda l: (l.append(l), l)[1])([])");
            assert!(dumps(py, &l).unwrap_err().is_instance_of::<PyTypeError>(py));
        });
    }

    #[test]
    fn loads_matches_stdlib() {
        with_py(|py| {
            let json = py.import("json").unwrap();
            for src in [
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"}}],"usage":{"prompt_tokens":9}}"#,
                r#"[0, -0, -0.0, 1.5, 1e5, 1E-5, 12345678901234567890, -98765432109876543210, 1e400, 123456789012345678]"#,
                r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800 x""#,
                r#"  {"dup": 1, "dup": 2, "nested": [[], {}, [[[]]]]}  "#,
                r#"["é✓😀", "plain ascii long string that spans several eight byte words"]"#,
                r#"[NaN, Infinity, -Infinity, true, false, null]"#,
            ] {
                let ours = loads(py, src.as_bytes()).unwrap();
                let theirs = json.call_method1("loads", (src,)).unwrap();
                // repr() compares types too (1 vs 1.0, True vs 1) and NaN textually.
                assert_eq!(
                    ours.repr().unwrap().to_string(),
                    theirs.repr().unwrap().to_string(),
                    "input {src}"
                );
            }
        });
    }

    #[test]
    fn loads_rejects_invalid_with_position() {
        with_py(|py| {
            for (src, want) in [
                ("", "Expecting value: line 1 column 1 (char 0)"),
                (
                    "{\"a\" 1}",
                    "Expecting ':' delimiter: line 1 column 6 (char 5)",
                ),
                ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
                ("[1] x", "Extra data: line 1 column 5 (char 4)"),
                (
                    "\"abc",
                    "Unterminated string starting at: line 1 column 1 (char 0)",
                ),
                (
                    "\"a\nb\"",
                    "Invalid control character at: line 1 column 3 (char 2)",
                ),
                (
                    "{\"a\":1,}",
                    "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
                ),
                ("01", "Extra data: line 1 column 2 (char 1)"),
                ("\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)"),
                ("<html>", "Expecting value: line 1 column 1 (char 0)"),
                ("nul", "Expecting value: line 1 column 1 (char 0)"),
            ] {
                let err = loads(py, src.as_bytes()).unwrap_err();
                assert!(err.is_instance_of::<PyValueError>(py));
                assert_eq!(err.value(py).to_string(), want, "input {src:?}");
            }
            // Invalid UTF-8 inside a string is a ValueError subclass (UnicodeDecodeError).
            let err = loads(py, b"\"\xff\"").unwrap_err();
            assert!(err.is_instance_of::<PyValueError>(py));
            // Deep nesting is an error, not a crash.
            let deep = "[".repeat(100_000);
            assert!(loads(py, deep.as_bytes())
                .unwrap_err()
                .is_instance_of::<PyValueError>(py));
        });
    }

    #[test]
    fn key_cache_returns_equal_and_reused_objects() {
        with_py(|py| {
            let a = loads(py, br#"{"content": 1}"#).unwrap();
            let b = loads(py, br#"{"content": 2}"#).unwrap();
            let ka = a.cast::<PyDict>().unwrap().keys().get_item(0).unwrap();
            let kb = b.cast::<PyDict>().unwrap().keys().get_item(0).unwrap();
            assert!(ka.is(&kb));
            assert_eq!(ka.extract::<String>().unwrap(), "content");
        });
    }

    #[test]
    fn round_trip_random_documents() {
        with_py(|py| {
            let json = py.import("json").unwrap();
            // Deterministic pseudo-random documents; the stdlib is the oracle both ways.
            let mut seed = 0x2545F4914F6CDD1Du64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            fn gen(next: &mut dyn FnMut() -> u64, depth: u32, out: &mut String) {
                let pick = if depth > 3 { next() % 5 } else { next() % 7 };
                match pick {
                    0 => out.push_str(&((next() as i64) >> (next() % 64)).to_string()),
                    1 => out.push_str(&format!(
                        "{:?}",
                        f64::from_bits(next() >> 2)
                            * if next().is_multiple_of(2) {
                                1.0
                            } else {
                                -1e-300
                            }
                    )),
                    2 => {
                        out.push('"');
                        for _ in 0..next() % 12 {
                            let c = ['a', 'é', '"', '\\', '\n', '😀', ' ', 'Z', '\u{1}', '✓']
                                [(next() % 10) as usize];
                            match c {
                                '"' => out.push_str("\\\""),
                                '\\' => out.push_str("\\\\"),
                                '\n' => out.push_str("\\n"),
                                '\u{1}' => out.push_str("\\u0001"),
                                c => out.push(c),
                            }
                        }
                        out.push('"');
                    }
                    3 => out.push_str(["true", "false", "null"][(next() % 3) as usize]),
                    4 => out.push_str("12345678901234567890123"),
                    5 => {
                        out.push('[');
                        for i in 0..next() % 5 {
                            if i > 0 {
                                out.push(',');
                            }
                            gen(next, depth + 1, out);
                        }
                        out.push(']');
                    }
                    _ => {
                        out.push('{');
                        for i in 0..next() % 5 {
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str(&format!("\"k{}\":", next() % 7));
                            gen(next, depth + 1, out);
                        }
                        out.push('}');
                    }
                }
            }
            for _ in 0..300 {
                let mut doc = String::new();
                gen(&mut next, 0, &mut doc);
                if doc.contains("inf") || doc.contains("NaN") {
                    continue;
                }
                let ours = loads(py, doc.as_bytes()).unwrap();
                let theirs = json.call_method1("loads", (doc.as_str(),)).unwrap();
                assert_eq!(
                    ours.repr().unwrap().to_string(),
                    theirs.repr().unwrap().to_string(),
                    "doc {doc}"
                );
                assert_eq!(
                    dumps(py, &ours).unwrap(),
                    stdlib_dumps(py, &theirs),
                    "doc {doc}"
                );
            }
        });
    }
}
