//! Moving numbers between the forward engine's rows (points innermost) and
//! the callers' point-major arrays: a transpose in tiles of [`TILE`] points,
//! so that every row is read (or written) [`TILE`] contiguous numbers at a
//! time and the point-major side stays in a few cache lines.

/// Points per tile.
const TILE: usize = 8;

/// `dst[p * dst_stride + col] = src[start + p]` for every `(Some(start), col)`
/// of `rows` and `p < count` (`None`: zero): rows of `src` become columns of
/// `count` point-major groups `dst_stride` apart. A tile writes all the
/// columns of its points before the next tile, so every cache line of `dst`
/// is filled at once.
pub(crate) fn rows_to_points<T: Copy + num_traits::Zero>(
    src: &[T],
    rows: &[(Option<usize>, usize)],
    count: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    if let ([(row, 0)], 1) = (rows, dst_stride) {
        // one row to a contiguous run
        let dst = &mut dst[..count];
        match row {
            Some(start) => dst.copy_from_slice(&src[*start..*start + count]),
            None => dst.fill(T::zero()),
        }
        return;
    }
    let Some(span) = rows.iter().map(|&(_, col)| col + 1).max() else {
        return;
    };
    let mut p = 0;
    while p + TILE <= count {
        let block = &mut dst[p * dst_stride..(p + TILE - 1) * dst_stride + span];
        for &(row, col) in rows {
            match row {
                Some(start) => {
                    let row = &src[start + p..][..TILE];
                    for (q, &x) in row.iter().enumerate() {
                        block[q * dst_stride + col] = x;
                    }
                }
                None => {
                    for q in 0..TILE {
                        block[q * dst_stride + col] = T::zero();
                    }
                }
            }
        }
        p += TILE;
    }
    for p in p..count {
        for &(row, col) in rows {
            dst[p * dst_stride + col] = row.map_or(T::zero(), |start| src[start + p]);
        }
    }
}

/// `dst[j * dst_stride + p] = src[p * src_stride + j]` for `j < width`, `p < count`:
/// `width` rows `dst_stride` apart from `count` point-major groups.
pub(crate) fn points_to_rows<T: Copy>(
    src: &[T],
    src_stride: usize,
    (width, count): (usize, usize),
    dst: &mut [T],
    dst_stride: usize,
) {
    if width == 0 || count == 0 {
        return;
    }
    let mut p = 0;
    while p + TILE <= count {
        let block = &src[p * src_stride..(p + TILE - 1) * src_stride + width];
        for j in 0..width {
            let row = &mut dst[j * dst_stride + p..][..TILE];
            for (q, y) in row.iter_mut().enumerate() {
                *y = block[q * src_stride + j];
            }
        }
        p += TILE;
    }
    for p in p..count {
        for j in 0..width {
            dst[j * dst_stride + p] = src[p * src_stride + j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_at_every_tail_length() {
        for count in [0, 1, 7, 8, 9, 16, 23] {
            for width in [1, 3, 6, 8] {
                let (rows_stride, pts_stride) = (count + 2, width + 1);
                let src: Vec<f64> = (0..width * rows_stride).map(|i| i as f64).collect();
                let mut pts = vec![-1.0; count * pts_stride];
                let rows: Vec<_> = (0..width).map(|j| (Some(j * rows_stride), j)).collect();
                rows_to_points(&src, &rows, count, &mut pts, pts_stride);
                for p in 0..count {
                    for j in 0..width {
                        assert_eq!(pts[p * pts_stride + j], src[j * rows_stride + p]);
                    }
                    // the gap between groups is untouched
                    assert_eq!(pts[p * pts_stride + width], -1.0);
                }
                let mut back = vec![-2.0; width * rows_stride];
                points_to_rows(&pts, pts_stride, (width, count), &mut back, rows_stride);
                for j in 0..width {
                    assert_eq!(
                        &back[j * rows_stride..][..count],
                        &src[j * rows_stride..][..count]
                    );
                    assert!(back[j * rows_stride + count..][..2]
                        .iter()
                        .all(|&x| x == -2.0));
                }
            }
        }
    }

    #[test]
    fn one_row_to_a_contiguous_run() {
        let src: Vec<f64> = (0..30).map(f64::from).collect();
        let mut dst = vec![-1.0; 12];
        rows_to_points(&src, &[(Some(5), 0)], 11, &mut dst, 1);
        assert_eq!(&dst[..11], &src[5..16]);
        assert_eq!(dst[11], -1.0);
        rows_to_points(&src, &[(None, 0)], 3, &mut dst, 1);
        assert_eq!(&dst[..4], &[0.0, 0.0, 0.0, src[8]]);
    }

    #[test]
    fn missing_rows_are_zero_columns() {
        let src: Vec<f64> = (1..=20).map(f64::from).collect();
        let mut dst = vec![-1.0; 30];
        rows_to_points(&src, &[(Some(10), 2), (None, 0)], 10, &mut dst, 3);
        for p in 0..10 {
            assert_eq!(&dst[p * 3..p * 3 + 3], &[0.0, -1.0, src[10 + p]]);
        }
    }
}
