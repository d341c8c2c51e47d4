//! Arguments from Python checked at the boundary: sizes, seeds, durations and
//! index arrays, with errors that name the argument, what it must be and what
//! came (pyo3's own conversions raise `OverflowError` for `-1` without the
//! name, and panic on durations too long for `Duration`).
//!
//! The checks themselves are plain functions of plain values (`check_*`), so
//! that the property tests below drive them with every kind of value.

use std::time::Duration;

use ndarray::ArrayView1;
use numpy::{PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::ShapeError;

/// A Python integer, or where it lies when it does not fit in `i128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int {
    Fits(i128),
    Below,
    Above,
}

/// A size (`usize`) from an integer, or a message naming `name`.
pub fn check_size(v: Int, name: &str) -> Result<usize, String> {
    match v {
        Int::Fits(v) if v < 0 => Err(format!("{name} must be a non-negative integer; got {v}")),
        Int::Below => Err(format!(
            "{name} must be a non-negative integer; got a negative number below -2**127"
        )),
        Int::Fits(v) => usize::try_from(v).map_err(|_| too_large(name, &v.to_string())),
        Int::Above => Err(too_large(name, "a number above 2**127")),
    }
}

fn too_large(name: &str, got: &str) -> String {
    format!(
        "{name} is too large: it must be at most {} (2**{} - 1); got {got}",
        usize::MAX,
        usize::BITS
    )
}

/// A 64-bit seed from an integer, or a message naming `name`.
pub fn check_seed(v: Int, name: &str) -> Result<u64, String> {
    match v {
        Int::Fits(v) if v >= 0 => u64::try_from(v)
            .map_err(|_| format!("{name} must be below 2**64 (a 64-bit seed); got {v}")),
        Int::Fits(v) => Err(format!("{name} must be a non-negative integer; got {v}")),
        Int::Below => Err(format!(
            "{name} must be a non-negative integer; got a negative number"
        )),
        Int::Above => Err(format!("{name} must be below 2**64 (a 64-bit seed)")),
    }
}

/// A duration from a number of seconds, or a message naming `name`.
pub fn check_seconds(t: f64, name: &str) -> Result<Duration, String> {
    if t.is_nan() || t < 0.0 {
        return Err(format!(
            "{name} must be a non-negative number of seconds; got {t:?}"
        ));
    }
    Duration::try_from_secs_f64(t).map_err(|_| {
        format!(
            "{name} must be at most {} seconds; got {t:?}",
            Duration::MAX.as_secs()
        )
    })
}

/// Indices (`usize`) from integers, or a message naming `name` and the
/// first negative one.
pub fn check_indices<I>(values: I, len: usize, name: &str) -> Result<Vec<usize>, String>
where
    I: IntoIterator,
    I::Item: Copy + TryInto<usize> + std::fmt::Display,
{
    let mut out = Vec::new();
    out.try_reserve_exact(len)
        .map_err(|_| format!("{name}: cannot allocate {len} indices"))?;
    for (k, v) in values.into_iter().enumerate() {
        let i = v.try_into().map_err(|_| {
            format!("{name} must hold non-negative indices; got {v} at position {k}")
        })?;
        out.push(i);
    }
    Ok(out)
}

/// The integer `obj` (anything with `__index__`), or `TypeError` naming `name`.
fn int(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Int> {
    match obj.extract::<i128>() {
        Ok(v) => Ok(Int::Fits(v)),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            Ok(if obj.lt(0)? { Int::Below } else { Int::Above })
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{name} must be an integer; got {}",
            type_name(obj)
        ))),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into())
}

/// A size argument: a non-negative integer.
pub fn size(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    check_size(int(obj, name)?, name).map_err(PyValueError::new_err)
}

/// A list of sizes (any iterable of non-negative integers), `name[k]` in errors.
pub fn sizes(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<usize>> {
    let items = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a list of non-negative integers; got {}",
            type_name(obj)
        ))
    })?;
    items
        .enumerate()
        .map(|(k, item)| size(&item?, &format!("{name}[{k}]")))
        .collect()
}

/// An optional size argument (`None` stays `None`).
pub fn opt_size(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<usize>> {
    match obj {
        Some(o) if !o.is_none() => size(o, name).map(Some),
        _ => Ok(None),
    }
}

/// A seed argument: an integer in `0..2**64`.
pub fn seed(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    check_seed(int(obj, name)?, name).map_err(PyValueError::new_err)
}

/// A duration argument in seconds.
pub fn seconds(t: f64, name: &str) -> PyResult<Duration> {
    check_seconds(t, name).map_err(PyValueError::new_err)
}

/// A 1-d array of indices, borrowed from numpy.
pub enum IndexArray<'py> {
    Signed(PyReadonlyArray1<'py, i64>),
    Unsigned(PyReadonlyArray1<'py, u64>),
}

/// The data of an [`IndexArray`], which may cross a GIL release.
pub enum IndexView<'a> {
    Signed(ArrayView1<'a, i64>),
    Unsigned(ArrayView1<'a, u64>),
}

impl IndexArray<'_> {
    pub fn view(&self) -> IndexView<'_> {
        match self {
            IndexArray::Signed(a) => IndexView::Signed(a.as_array()),
            IndexArray::Unsigned(a) => IndexView::Unsigned(a.as_array()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            IndexArray::Signed(a) => a.len(),
            IndexArray::Unsigned(a) => a.len(),
        }
    }
}

impl IndexView<'_> {
    /// The indices as `usize`, or a message naming `name`.
    pub fn to_indices(&self, name: &str) -> Result<Vec<usize>, String> {
        match self {
            IndexView::Signed(a) => check_indices(a.iter().copied(), a.len(), name),
            IndexView::Unsigned(a) => check_indices(a.iter().copied(), a.len(), name),
        }
    }
}

/// An index-array argument: anything numpy turns into a 1-d array of
/// integers (an empty list included). A 2-d array is a `ShapeError`, floats
/// a `TypeError`, both naming `name`.
pub fn index_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<IndexArray<'py>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, i64>>() {
        return Ok(IndexArray::Signed(a));
    }
    let py = obj.py();
    let np = py.import("numpy")?;
    let arr = np.getattr("asarray")?.call1((obj,)).map_err(|e| {
        PyTypeError::new_err(format!(
            "{name} must be a 1-d array of integer indices; got {} ({e})",
            type_name(obj)
        ))
    })?;
    let untyped = arr.cast::<PyUntypedArray>()?;
    if untyped.ndim() != 1 {
        return Err(ShapeError::new_err(format!(
            "{name}: expected a 1-d array of indices, got shape {}",
            anydiff::memory::shape_str(untyped.shape())
        )));
    }
    let kind = untyped.dtype().kind();
    let dtype = match kind {
        b'i' => "int64",
        b'u' => "uint64",
        _ if untyped.len() == 0 => "int64",
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{name} must hold integer indices; got dtype {}",
                untyped.dtype()
            )))
        }
    };
    let converted = np.getattr("asarray")?.call1((arr, dtype))?;
    Ok(if dtype == "uint64" {
        IndexArray::Unsigned(converted.extract()?)
    } else {
        IndexArray::Signed(converted.extract()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_int() -> impl Strategy<Value = Int> {
        prop_oneof![
            any::<i128>().prop_map(Int::Fits),
            any::<i64>().prop_map(|v| Int::Fits(v.into())),
            any::<u64>().prop_map(|v| Int::Fits(v.into())),
            Just(Int::Below),
            Just(Int::Above),
        ]
    }

    proptest! {
        // never a panic; an error names the argument
        #[test]
        fn sizes(v in any_int()) {
            match check_size(v, "batch_size") {
                Ok(s) => prop_assert_eq!(Int::Fits(s as i128), v),
                Err(msg) => prop_assert!(msg.starts_with("batch_size ")),
            }
            match check_seed(v, "seed") {
                Ok(s) => prop_assert_eq!(Int::Fits(s.into()), v),
                Err(msg) => prop_assert!(msg.starts_with("seed ")),
            }
        }

        #[test]
        fn durations(t in prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e300),
            Just(1.8446744073709552e19),
        ]) {
            match check_seconds(t, "time_budget") {
                Ok(d) => prop_assert!(t >= 0.0 && (d.as_secs_f64() - t).abs() <= t * 1e-9 + 1e-9),
                Err(msg) => {
                    let shown = format!("{t:?}");
                    prop_assert!(msg.starts_with("time_budget ") && msg.contains(&shown), "{}", msg);
                }
            }
        }

        #[test]
        fn indices(v in proptest::collection::vec(any::<i64>(), 0..50)) {
            match check_indices(v.iter().copied(), v.len(), "rows") {
                Ok(out) => prop_assert!(out.iter().zip(&v).all(|(&a, &b)| a as i64 == b)),
                Err(msg) => prop_assert!(v.iter().any(|&x| x < 0) && msg.starts_with("rows ")),
            }
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            check_size(Int::Fits(-1), "batch_size").unwrap_err(),
            "batch_size must be a non-negative integer; got -1"
        );
        assert!(check_size(Int::Fits(1 << 64), "m")
            .unwrap_err()
            .contains("too large"));
        assert!(check_seconds(1e300, "time_budget")
            .unwrap_err()
            .contains("at most"));
        assert!(check_seconds(f64::NAN, "time_budget").is_err());
        assert_eq!(check_seconds(0.5, "t"), Ok(Duration::from_millis(500)));
    }
}
