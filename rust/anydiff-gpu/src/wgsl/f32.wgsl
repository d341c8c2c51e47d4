// f32 elementary functions: WGSL's builtins, with the few that WGSL lacks or
// computes poorly near zero (expm1, log1p, cbrt, erf) written out.

// NaN tests and NaNs from bits and runtime values: shader compilers may fold
// x != x to false and inf - inf to 0.
fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isfinite_(x: f32) -> bool { return abs(x) <= 3.4028234663852886e38; }
fn nan_(x: f32) -> f32 { return sqrt(-1.0 - abs(x)); }

fn exp_(x: f32) -> f32 { return exp(x); }
fn exp2_(x: f32) -> f32 { return exp2(x); }
fn log_(x: f32) -> f32 { return log(x); }
fn log2_(x: f32) -> f32 { return log2(x); }
fn log10_(x: f32) -> f32 { return log2(x) * 0.30102999566398120; }
fn sin_(x: f32) -> f32 { return sin(x); }
fn cos_(x: f32) -> f32 { return cos(x); }
fn tan_(x: f32) -> f32 { return tan(x); }
fn sinh_(x: f32) -> f32 { return sinh(x); }
fn cosh_(x: f32) -> f32 { return cosh(x); }
fn tanh_(x: f32) -> f32 { return tanh(x); }
// asin and acos through atan, which stays accurate near |x| = 1 where the
// builtins (on lavapipe) lose five digits
fn asin_(x: f32) -> f32 { return atan2(x, sqrt((1.0 - x) * (1.0 + x))); }
fn acos_(x: f32) -> f32 { return 2.0 * atan(sqrt((1.0 - x) / (1.0 + x))); }
fn atan_(x: f32) -> f32 { return atan(x); }
fn atan2_(y: f32, x: f32) -> f32 { return atan2(y, x); }
fn asinh_(x: f32) -> f32 {
    let a = abs(x);
    return sign(x) * log1p_(a + a * a / (1.0 + sqrt(1.0 + a * a)));
}
fn acosh_(x: f32) -> f32 {
    let t = x - 1.0;
    return log1p_(t + sqrt(2.0 * t + t * t));
}
fn atanh_(x: f32) -> f32 { return 0.5 * log1p_(2.0 * x / (1.0 - x)); }

fn expm1_(x: f32) -> f32 {
    if abs(x) < 1.0e-2 {
        return x + x * x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x / 120.0)));
    }
    return exp(x) - 1.0;
}

fn log1p_(x: f32) -> f32 {
    let u = 1.0 + x;
    if u == 1.0 { return x; }
    return log(u) * x / (u - 1.0);
}

fn cbrt_(x: f32) -> f32 {
    if x == 0.0 { return x; }
    var y = sign(x) * pow(abs(x), 1.0 / 3.0);
    y = y - (y * y * y - x) / (3.0 * y * y);
    return y;
}

fn logistic_(x: f32) -> f32 {
    if x < 0.0 {
        let e = exp(x);
        return e / (1.0 + e);
    }
    return 1.0 / (1.0 + exp(-x));
}

fn pow_(x: f32, y: f32) -> f32 {
    if y == 0.0 { return 1.0; }
    let whole = y == floor(y);
    if x < 0.0 && !whole { return sqrt(x); }
    let r = pow(abs(x), y);
    let odd = whole && abs(y) < 1.6e7 && (y % 2.0) != 0.0;
    return select(r, -r, x < 0.0 && odd);
}

// erf: Taylor series near 0, the complementary continued-fraction-free
// approximation of Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7) elsewhere.
fn erf_(x: f32) -> f32 {
    let a = abs(x);
    if a < 0.5 {
        let z = x * x;
        return 1.1283791670955126 * x * (1.0 + z * (-1.0 / 3.0 + z * (0.1 + z * (-1.0 / 42.0 + z / 216.0))));
    }
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(x) * (1.0 - p * exp(-a * a));
}
