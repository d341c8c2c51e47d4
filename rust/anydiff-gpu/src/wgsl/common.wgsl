// Helpers of both precisions, written for the type alias `real` (f32 or f64)
// that the generated module declares first.

// d * t, except that a zero tangent t stays zero whatever d is (the dual
// numbers' rule: a lane that does not depend on an argument never picks up
// its infinite or NaN partial derivative).
fn tm(d: real, t: real) -> real {
    return select(d * t, real(0), t == real(0));
}

fn hypot_(x: real, z: real) -> real {
    let s = max(abs(x), abs(z));
    if s == real(0) || isnan_(s) { return s; }
    let a = x / s;
    let b = z / s;
    return s * sqrt(a * a + b * b);
}

// fmod: x - q y is exact for the right quotient q, so one fma gives it; a
// quotient rounded up by x / y shows as a remainder of the wrong sign.
fn rem_(x: real, y: real) -> real {
    let q = trunc(x / y);
    var r = fma(-q, y, x);
    if r != real(0) && (r < real(0)) != (x < real(0)) {
        r = r + select(abs(y), -abs(y), x < real(0));
    }
    return r;
}

fn powi_(x: real, n: i32) -> real {
    var r = real(1);
    for (var i = 0; i < abs(n); i = i + 1) {
        r = r * x;
    }
    return select(r, real(1) / r, n < 0);
}
