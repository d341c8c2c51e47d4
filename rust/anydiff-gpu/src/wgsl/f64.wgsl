// f64 elementary functions from arithmetic alone. Drivers (NVIDIA's Vulkan
// driver, Mesa's lavapipe) either reject or miscompute the f64 forms of WGSL's
// exp/log/sin/..., while f64 + - * / sqrt fma floor are exact, so each function
// is a range reduction followed by a polynomial. Powers of two are built by
// repeated squaring (exact), and infinities and NaNs come from runtime
// arithmetic because WGSL has no literal for them.

const LN2_HI: f64 = 6.93147180369123816490e-01lf;
const LN2_LO: f64 = 1.90821492927058770002e-10lf;
const INV_LN2: f64 = 1.44269504088896338700e+00lf;
const LN2: f64 = 6.93147180559945286227e-01lf;
const LN10: f64 = 2.30258509299404590109e+00lf;
const PI: f64 = 3.14159265358979311600e+00lf;
const PI_2: f64 = 1.57079632679489655800e+00lf;
const PIO2_1: f64 = 1.57079632673412561417e+00lf;
const PIO2_2: f64 = 6.07710050630396597660e-11lf;
const PIO2_3: f64 = 2.02226624871116645580e-21lf;
const PIO2_3T: f64 = 8.47842766036889956997e-32lf;
const INV_PIO2: f64 = 6.36619772367581382433e-01lf;

// 2^k, exact, for -1074 <= k <= 1023 (0 below, inf above). Loops here run a
// fixed number of times: lavapipe miscompiles f64 loops whose trip count
// differs between the invocations of one SIMD group.
fn pow2_(k: i32) -> f64 {
    var r: f64 = 1.0lf;
    var b: f64 = select(0.5lf, 2.0lf, k >= 0);
    let e: u32 = min(u32(abs(k)), 2047u);
    for (var i: u32 = 0u; i < 11u; i = i + 1u) {
        r = select(r, r * b, ((e >> i) & 1u) == 1u);
        b = b * b;
    }
    return r;
}

// x * 2^k with one rounding (split so that neither factor overflows).
fn ldexp_(x: f64, k: i32) -> f64 {
    let h = k / 2;
    return x * pow2_(h) * pow2_(k - h);
}

fn inf_() -> f64 {
    let h = pow2_(1000);
    return h * h;
}

// NaN from a runtime value (sqrt of a negative number): shader compilers may
// fold `inf - inf` to 0.
fn nan_(x: f64) -> f64 {
    return sqrt(-1.0lf - abs(x));
}

// From the bits of f32(x) (a NaN stays NaN): shader compilers may fold x != x
// to false.
fn isnan_(x: f64) -> bool {
    return (bitcast<u32>(f32(x)) & 0x7fffffffu) > 0x7f800000u;
}

fn isfinite_(x: f64) -> bool {
    return abs(x) <= 1.7976931348623157e308lf;
}

// e^r - 1 for |r| <= 0.35: Taylor series to r^14 (error below 1e-17 relative).
fn expm1_poly(r: f64) -> f64 {
    var p: f64 = 1.0lf / 87178291200.0lf;
    p = p * r + 1.0lf / 6227020800.0lf;
    p = p * r + 1.0lf / 479001600.0lf;
    p = p * r + 1.0lf / 39916800.0lf;
    p = p * r + 1.0lf / 3628800.0lf;
    p = p * r + 1.0lf / 362880.0lf;
    p = p * r + 1.0lf / 40320.0lf;
    p = p * r + 1.0lf / 5040.0lf;
    p = p * r + 1.0lf / 720.0lf;
    p = p * r + 1.0lf / 120.0lf;
    p = p * r + 1.0lf / 24.0lf;
    p = p * r + 1.0lf / 6.0lf;
    p = p * r + 0.5lf;
    return r + r * r * p;
}

// e^r for |r| <= ln2 / 2 (adding the small terms first keeps the last bit).
fn exp_poly(r: f64) -> f64 {
    return 1.0lf + expm1_poly(r);
}

fn exp_(x: f64) -> f64 {
    if isnan_(x) { return x; }
    if x > 709.782712893384lf { return inf_(); }
    if x < -745.2lf { return 0.0lf; }
    let k = round(x * INV_LN2);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    return ldexp_(exp_poly(r), i32(k));
}

fn exp2_(x: f64) -> f64 {
    if isnan_(x) { return x; }
    if x >= 1024.0lf { return inf_(); }
    if x < -1075.0lf { return 0.0lf; }
    let k = round(x);
    let r = (x - k) * LN2;
    return ldexp_(exp_poly(r), i32(k));
}

// e^x - 1, accurate near 0 (series on |x| < 0.35, exp elsewhere).
fn expm1_(x: f64) -> f64 {
    if abs(x) < 0.35lf { return expm1_poly(x); }
    return exp_(x) - 1.0lf;
}

// ln(1 + f) for 1 + f in [sqrt(1/2), sqrt(2)]: 2 atanh(s), s = f / (2 + f), |s| < 0.172.
fn log_series(f: f64) -> f64 {
    let s = f / (2.0lf + f);
    let z = s * s;
    var p: f64 = 1.0lf / 23.0lf;
    p = p * z + 1.0lf / 21.0lf;
    p = p * z + 1.0lf / 19.0lf;
    p = p * z + 1.0lf / 17.0lf;
    p = p * z + 1.0lf / 15.0lf;
    p = p * z + 1.0lf / 13.0lf;
    p = p * z + 1.0lf / 11.0lf;
    p = p * z + 1.0lf / 9.0lf;
    p = p * z + 1.0lf / 7.0lf;
    p = p * z + 1.0lf / 5.0lf;
    p = p * z + 1.0lf / 3.0lf;
    // 2 atanh(s) = 2 s (1 + z / 3 + z^2 / 5 + ...)
    return 2.0lf * s + 2.0lf * s * z * p;
}

fn log_reduced(m: f64) -> f64 {
    return log_series(m - 1.0lf);
}

// (mantissa in [sqrt(1/2), sqrt(2)], exponent) of a finite x > 0, without bit
// access; (0, 0) where the device flushes a subnormal x to zero.
fn frexp_(x: f64) -> vec2<f64> {
    var y = x;
    var k: i32 = 0;
    if y < 2.2250738585072014e-308lf { y = y * pow2_(54); k = k - 54; }
    if y == 0.0lf { return vec2<f64>(0.0lf, 0.0lf); }
    // bring y into f32's normal range so that f32's log2 can estimate the exponent
    let down = pow2_(-100);
    let up = pow2_(100);
    for (var i = 0; i < 10; i = i + 1) {
        let big = y > 1.0e30lf;
        y = select(y, y * down, big);
        k = select(k, k + 100, big);
        let small = y < 1.0e-30lf;
        y = select(y, y * up, small);
        k = select(k, k - 100, small);
    }
    let e = i32(round(log2(f32(y))));
    var m = y * pow2_(-e);
    k = k + e;
    if m > 1.4142135623730951lf { m = m * 0.5lf; k = k + 1; }
    if m < 0.7071067811865476lf { m = m * 2.0lf; k = k - 1; }
    return vec2<f64>(m, f64(k));
}

fn log_(x: f64) -> f64 {
    if isnan_(x) || x < 0.0lf { return nan_(x); }
    if x == 0.0lf { return -inf_(); }
    if x > 1.7976931348623157e308lf { return x; }
    let mk = frexp_(x);
    if mk.x == 0.0lf { return -inf_(); }
    let k = mk.y;
    return k * LN2_HI + (k * LN2_LO + log_reduced(mk.x));
}

// ln(1 + x): the series on x itself near 0 (no rounding of 1 + x, and no
// reliance on (1 + x) - 1 == x surviving the shader compiler), ln(1 + x) elsewhere.
fn log1p_(x: f64) -> f64 {
    if x > -0.29lf && x < 0.41lf { return log_series(x); }
    return log_(1.0lf + x);
}

fn log2_(x: f64) -> f64 {
    if isnan_(x) || x <= 0.0lf || x > 1.7976931348623157e308lf { return log_(x); }
    let mk = frexp_(x);
    if mk.x == 0.0lf { return -inf_(); }
    return mk.y + log_reduced(mk.x) * INV_LN2;
}

fn log10_(x: f64) -> f64 {
    return log_(x) / LN10;
}

// sin and cos of |r| <= pi/4: Taylor series to r^21 / r^20.
fn sin_poly(r: f64) -> f64 {
    let z = r * r;
    var p: f64 = -1.0lf / 51090942171709440000.0lf;
    p = p * z + 1.0lf / 121645100408832000.0lf;
    p = p * z - 1.0lf / 355687428096000.0lf;
    p = p * z + 1.0lf / 1307674368000.0lf;
    p = p * z - 1.0lf / 6227020800.0lf;
    p = p * z + 1.0lf / 39916800.0lf;
    p = p * z - 1.0lf / 362880.0lf;
    p = p * z + 1.0lf / 5040.0lf;
    p = p * z - 1.0lf / 120.0lf;
    p = p * z + 1.0lf / 6.0lf;
    return r - r * z * p;
}

fn cos_poly(r: f64) -> f64 {
    let z = r * r;
    var p: f64 = 1.0lf / 1124000727777607680000.0lf;
    p = p * z - 1.0lf / 2432902008176640000.0lf;
    p = p * z + 1.0lf / 6402373705728000.0lf;
    p = p * z - 1.0lf / 20922789888000.0lf;
    p = p * z + 1.0lf / 87178291200.0lf;
    p = p * z - 1.0lf / 479001600.0lf;
    p = p * z + 1.0lf / 3628800.0lf;
    p = p * z - 1.0lf / 40320.0lf;
    p = p * z + 1.0lf / 720.0lf;
    p = p * z - 1.0lf / 24.0lf;
    let hz = 0.5lf * z;
    let w = 1.0lf - hz;
    // 1 - z/2 + z^2 q with the rounding of 1 - z/2 carried along
    return w + (((1.0lf - w) - hz) + z * z * (-p));
}

// (r, quadrant) with x = r + k pi/2: pi/2 in three parts (Cody and Waite),
// accurate while |k| < 2^20 (|x| up to about 1.6e6).
fn reduce_pio2(x: f64) -> vec2<f64> {
    let k = round(x * INV_PIO2);
    let r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    // far outside the accurate range r is meaningless: keep it in a period
    return vec2<f64>(select(r, 0.5lf, abs(r) > 1.0lf), k);
}

// sin and cos are accurate while |x| < 1.6e6 (the reduction above); beyond,
// without a Payne-Hanek reduction, they lose accuracy but stay in [-1, 1].
fn sin_(x: f64) -> f64 {
    if isnan_(x) || abs(x) > 1.7976931348623157e308lf { return nan_(x); }
    if abs(x) < 1.0e-8lf { return x; }
    let rk = reduce_pio2(x);
    let q = i32(rk.y - 4.0lf * floor(rk.y * 0.25lf));
    let r = rk.x;
    var v: f64;
    switch q {
        case 0: { v = sin_poly(r); }
        case 1: { v = cos_poly(r); }
        case 2: { v = -sin_poly(r); }
        default: { v = -cos_poly(r); }
    }
    return clamp(v, -1.0lf, 1.0lf);
}

fn cos_(x: f64) -> f64 {
    if isnan_(x) || abs(x) > 1.7976931348623157e308lf { return nan_(x); }
    let rk = reduce_pio2(x);
    let q = i32(rk.y - 4.0lf * floor(rk.y * 0.25lf));
    let r = rk.x;
    var v: f64;
    switch q {
        case 0: { v = cos_poly(r); }
        case 1: { v = -sin_poly(r); }
        case 2: { v = -cos_poly(r); }
        default: { v = sin_poly(r); }
    }
    return clamp(v, -1.0lf, 1.0lf);
}

fn tan_(x: f64) -> f64 {
    return sin_(x) / cos_(x);
}

fn sinh_(x: f64) -> f64 {
    let a = abs(x);
    if a > 710.0lf { return x * inf_(); }
    let e = expm1_(a);
    // (e^a - e^-a) / 2 = (e + e / (e + 1)) / 2
    return sign(x) * 0.5lf * (e + e / (e + 1.0lf));
}

fn cosh_(x: f64) -> f64 {
    let a = abs(x);
    if a > 710.0lf { return a * inf_(); }
    let e = exp_(a);
    return 0.5lf * (e + 1.0lf / e);
}

fn tanh_(x: f64) -> f64 {
    if isnan_(x) { return x; }
    let a = abs(x);
    if a > 20.0lf { return sign(x); }
    let e = expm1_(2.0lf * a);
    return sign(x) * e / (e + 2.0lf);
}

// atan of |x| <= 2 - sqrt(3): odd Taylor series to x^27.
fn atan_poly(x: f64) -> f64 {
    let z = x * x;
    var p: f64 = -1.0lf / 27.0lf;
    p = p * z + 1.0lf / 25.0lf;
    p = p * z - 1.0lf / 23.0lf;
    p = p * z + 1.0lf / 21.0lf;
    p = p * z - 1.0lf / 19.0lf;
    p = p * z + 1.0lf / 17.0lf;
    p = p * z - 1.0lf / 15.0lf;
    p = p * z + 1.0lf / 13.0lf;
    p = p * z - 1.0lf / 11.0lf;
    p = p * z + 1.0lf / 9.0lf;
    p = p * z - 1.0lf / 7.0lf;
    p = p * z + 1.0lf / 5.0lf;
    p = p * z - 1.0lf / 3.0lf;
    return x + x * z * p;
}

fn atan_(x: f64) -> f64 {
    if isnan_(x) { return x; }
    var a = abs(x);
    var base: f64 = 0.0lf;
    var flip = false;
    if a > 1.0lf { a = 1.0lf / a; flip = true; }
    // tan(pi/12) = 2 - sqrt(3): shift by pi/6 above it
    if a > 0.2679491924311227lf {
        a = (a * 1.7320508075688772lf - 1.0lf) / (a + 1.7320508075688772lf);
        base = PI / 6.0lf;
    }
    var r = base + atan_poly(a);
    if flip { r = PI_2 - r; }
    return sign(x) * r;
}

fn atan2_(y: f64, x: f64) -> f64 {
    if isnan_(x) || isnan_(y) { return x + y; }
    if x == 0.0lf && y == 0.0lf { return select(0.0lf, PI, x < 0.0lf || (1.0lf / x) < 0.0lf) * select(1.0lf, -1.0lf, (1.0lf / y) < 0.0lf); }
    let ax = abs(x);
    let ay = abs(y);
    var r: f64;
    if ax >= ay { r = atan_(ay / ax); } else { r = PI_2 - atan_(ax / ay); }
    if x < 0.0lf { r = PI - r; }
    return select(r, -r, y < 0.0lf || (y == 0.0lf && (1.0lf / y) < 0.0lf));
}

fn asin_(x: f64) -> f64 {
    if isnan_(x) || abs(x) > 1.0lf { return nan_(x); }
    if abs(x) == 1.0lf { return sign(x) * PI_2; }
    return atan_(x / sqrt((1.0lf - x) * (1.0lf + x)));
}

fn acos_(x: f64) -> f64 {
    if isnan_(x) || abs(x) > 1.0lf { return nan_(x); }
    if x == -1.0lf { return PI; }
    return 2.0lf * atan_(sqrt((1.0lf - x) / (1.0lf + x)));
}

fn asinh_(x: f64) -> f64 {
    let a = abs(x);
    if a > 1.0e150lf { return sign(x) * (log_(a) + LN2); }
    let a2 = a * a;
    return sign(x) * log1p_(a + a2 / (1.0lf + sqrt(1.0lf + a2)));
}

fn acosh_(x: f64) -> f64 {
    if isnan_(x) || x < 1.0lf { return nan_(x); }
    if x > 1.0e150lf { return log_(x) + LN2; }
    let t = x - 1.0lf;
    return log1p_(t + sqrt(2.0lf * t + t * t));
}

fn atanh_(x: f64) -> f64 {
    let a = abs(x);
    if isnan_(x) || a > 1.0lf { return nan_(x); }
    if a == 1.0lf { return x * inf_(); }
    return sign(x) * 0.5lf * (log1p_(a) - log1p_(-a));
}

fn cbrt_(x: f64) -> f64 {
    if x == 0.0lf || isnan_(x) || abs(x) > 1.7976931348623157e308lf { return x; }
    let a = abs(x);
    let mk = frexp_(a);
    if mk.x == 0.0lf { return 0.0lf * x; }
    // a = m 2^k, k = 3q + s: cbrt(a) = cbrt(m 2^s) 2^q, started from f32 and polished by Newton
    let k = i32(mk.y);
    let q = (k - ((k % 3) + 3) % 3) / 3;
    let m = mk.x * pow2_(k - 3 * q);
    var y = f64(pow(f32(m), 1.0 / 3.0));
    y = y - (y * y * y - m) / (3.0lf * y * y);
    y = y - (y * y * y - m) / (3.0lf * y * y);
    return sign(x) * ldexp_(y, q);
}

fn logistic_(x: f64) -> f64 {
    if x < 0.0lf {
        let e = exp_(x);
        return e / (1.0lf + e);
    }
    return 1.0lf / (1.0lf + exp_(-x));
}

fn pow_(x: f64, y: f64) -> f64 {
    if y == 0.0lf { return 1.0lf; }
    if isnan_(x) || isnan_(y) { return x + y; }
    let whole = y == floor(y);
    if x < 0.0lf && !whole { return nan_(x); }
    if x == 0.0lf {
        if y > 0.0lf { return select(0.0lf, x, whole && (y % 2.0lf) == 1.0lf); }
        return select(inf_(), 1.0lf / x, whole && (y % 2.0lf) == 1.0lf);
    }
    let r = exp_(y * log_(abs(x)));
    let odd = whole && abs(y) < 9.0e15lf && (y % 2.0lf) != 0.0lf;
    return select(r, -r, x < 0.0lf && odd);
}
