//! Pattern construction, validation and accessors.

use anydiff::sparse::Pattern;
use anydiff::Error;

#[test]
fn coo_merges_duplicates_and_sorts() {
    let p = Pattern::from_coo(3, 4, &[2, 0, 2, 0, 2], &[3, 1, 0, 1, 3]).unwrap();
    assert_eq!((p.nrows(), p.ncols(), p.nnz()), (3, 4, 3));
    assert_eq!(p.row(0), &[1]);
    assert!(p.row(1).is_empty());
    assert_eq!(p.row(2), &[0, 3]);
    assert_eq!(p.col(3), &[2]);
    assert_eq!(p.col(1), &[0]);
    assert!(p.col(2).is_empty());
    assert_eq!(p.row_ptr(), &[0, 1, 1, 3]);
    assert_eq!(p.col_ptr(), &[0, 1, 2, 2, 3]);
    assert_eq!(p.to_coo(), (vec![0, 2, 2], vec![1, 0, 3]));
    assert!(p.contains(2, 3) && !p.contains(1, 1) && !p.contains(9, 9));
    assert_eq!(p.position(2, 3), Some(2));
    assert_eq!(p.position(5, 0), None);
    assert!(!p.is_square() && !p.is_symmetric());
    // out-of-range accessors are empty, never a panic
    assert!(p.row(3).is_empty() && p.col(4).is_empty());
}

#[test]
fn coo_out_of_range_names_index_and_shape() {
    let err = Pattern::from_coo(2, 3, &[0, 2], &[1, 1]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("(2, 1)") && msg.contains("(2, 3)"), "{msg}");
    let err = Pattern::from_coo(2, 3, &[0], &[3]).unwrap_err();
    assert!(err.to_string().contains("(0, 3)"));
    assert!(matches!(
        Pattern::from_coo(2, 3, &[0, 1], &[0]),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn csr_validated() {
    let p = Pattern::from_csr(2, 3, &[0, 2, 3], &[2, 0, 1]).unwrap();
    assert_eq!(p.row(0), &[0, 2]);
    assert_eq!(p.row(1), &[1]);
    assert!(Pattern::from_csr(2, 3, &[0, 2], &[0, 1]).is_err());
    assert!(Pattern::from_csr(2, 3, &[1, 2, 3], &[0, 1, 2]).is_err());
    assert!(Pattern::from_csr(2, 3, &[0, 2, 1], &[0, 1]).is_err());
    assert!(Pattern::from_csr(2, 3, &[0, 1, 2], &[0, 3]).is_err());
    assert!(Pattern::from_csr(2, 3, &[0, 3, 2], &[0, 1]).is_err());
    assert_eq!(Pattern::from_csr(0, 0, &[0], &[]).unwrap().nnz(), 0);
}

#[test]
fn dense_mask_and_transpose() {
    let mask = [true, false, true, false, true, true];
    let p = Pattern::from_dense(2, 3, &mask).unwrap();
    assert_eq!(p.to_coo(), (vec![0, 0, 1, 1], vec![0, 2, 1, 2]));
    let t = p.transpose();
    assert_eq!((t.nrows(), t.ncols()), (3, 2));
    assert_eq!(t.row(2), &[0, 1]);
    assert_eq!(t.transpose(), p);
    assert!(Pattern::from_dense(2, 3, &mask[..5]).is_err());
    assert_eq!(Pattern::from_dense(3, 0, &[]).unwrap().nrows(), 3);
    let sym = Pattern::from_dense(2, 2, &[true, true, true, false]).unwrap();
    assert!(sym.is_symmetric());
    let values = [1.0, 2.0, 3.0];
    assert_eq!(
        sym.to_dense(&values).unwrap(),
        ndarray::array![[1.0, 2.0], [3.0, 0.0]]
    );
    assert!(sym.to_dense(&values[..2]).is_err());
}

#[test]
fn empty_shapes() {
    for (m, n) in [(0, 0), (0, 3), (3, 0), (1, 5), (5, 1)] {
        let p = Pattern::empty(m, n);
        assert_eq!((p.nrows(), p.ncols(), p.nnz()), (m, n, 0));
        assert_eq!(p.row_ptr().len(), m + 1);
        assert_eq!(p.col_ptr().len(), n + 1);
        assert_eq!(p.is_symmetric(), m == n);
    }
}
