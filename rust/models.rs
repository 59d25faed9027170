//! Pydantic objects made from their parts, without validation: what `BaseModel.__copy__` and
//! `model_construct` do in Python (`object.__new__`, then `__dict__` and pydantic's three slots
//! set through `object.__setattr__`), in one call instead of five. The fast stream path builds
//! every chunk this way (edgequake_patch/paths/chunk_recipes.py), and those five calls through
//! `object.__setattr__` were most of a chunk's cost.

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};

fn set_generic(obj: &Bound<'_, PyAny>, name: &Bound<'_, PyString>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    // Exactly what `object.__setattr__(obj, name, value)` does: the type's data descriptor
    // (`__dict__`'s setter, the slots' member descriptors), bypassing the class's own
    // `__setattr__` (pydantic's, which validates).
    if unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) } < 0 {
        return Err(PyErr::fetch(obj.py()));
    }
    Ok(())
}

/// `object.__new__(cls)` with `__dict__`, `__pydantic_extra__`, `__pydantic_fields_set__` and
/// `__pydantic_private__` set to the objects given (not copied).
#[pyfunction]
pub fn new_model<'py>(
    cls: &Bound<'py, PyType>,
    dict: &Bound<'py, PyAny>,
    extra: &Bound<'py, PyAny>,
    fields_set: &Bound<'py, PyAny>,
    private: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let object_new = unsafe { (*std::ptr::addr_of!(ffi::PyBaseObject_Type)).tp_new }
        .ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("object has no tp_new"))?;
    let no_args = PyTuple::empty(py);
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            object_new(cls.as_type_ptr(), no_args.as_ptr(), std::ptr::null_mut()),
        )?
    };
    set_generic(&obj, intern!(py, "__dict__"), dict)?;
    set_generic(&obj, intern!(py, "__pydantic_extra__"), extra)?;
    set_generic(&obj, intern!(py, "__pydantic_fields_set__"), fields_set)?;
    set_generic(&obj, intern!(py, "__pydantic_private__"), private)?;
    Ok(obj)
}

/// `str(uuid.uuid4())`: 16 bytes from the operating system's random source (as `os.urandom`,
/// which `uuid.uuid4` reads), version and variant bits set, in the canonical 8-4-4-4-12 form.
#[pyfunction]
pub fn uuid4_text() -> PyResult<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    b[6] = (b[6] & 0x0F) | 0x40; // version 4
    b[8] = (b[8] & 0x3F) | 0x80; // RFC 4122 variant
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 0x0F) as usize] as char);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_texts_are_canonical_version_4_and_differ() {
        let a = uuid4_text().unwrap();
        let b = uuid4_text().unwrap();
        assert_ne!(a, b);
        for text in [a, b] {
            let parts: Vec<&str> = text.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
            assert!(text.bytes().all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert_eq!(&parts[2][..1], "4");
            assert!("89ab".contains(&parts[3][..1]));
        }
    }
}
