//! Kubernetes resource quantities (`500m`, `128Mi`, `1.5e3`) with exact integer math.
//!
//! A quantity is kept as `mantissa × 10^exp10 × 2^exp2`, with the mantissa an
//! integer of at most [`MAX_SIGNIFICANT_DIGITS`] digits, so conversions such as
//! [`Quantity::milli_value`] and [`Quantity::value`] round exactly (up, like
//! Kubernetes' `ScaledValue`) instead of going through floating point.
//! Results that do not fit an `i64` saturate, as Kubernetes' `Value()` does.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Significant digits kept exactly. 18 decimal digits fit an `i64`; with a
/// binary suffix of up to 2^60 (`Ei`) the product still fits an `i128`, which
/// keeps every conversion exact. Kubernetes itself accepts more digits but
/// rounds them away when it canonicalizes.
pub const MAX_SIGNIFICANT_DIGITS: usize = 18;

/// Largest decimal exponent magnitude accepted (`1e300` is nonsense for any
/// resource); keeps the exact arithmetic bounded.
const MAX_EXP10: i32 = 100;

/// How the quantity was written, which decides how [`Display`](fmt::Display) renders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityFormat {
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`.
    BinarySI,
    /// Powers of 1000: `n`, `u`, `m`, none, `k`, `M`, `G`, `T`, `P`, `E`.
    DecimalSI,
    /// Scientific notation: `1e3`, `5E-2`.
    DecimalExponent,
}

/// A parsed Kubernetes quantity.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    mantissa: i64,
    exp10: i32,
    exp2: u32,
    format: QuantityFormat,
}

/// Parses a quantity such as `500m`, `128Mi`, `1.5Gi`, `2e3` or `+1k`.
///
/// # Errors
///
/// [`QuantityError`] when the text is not a quantity, has an unknown suffix,
/// or more than [`MAX_SIGNIFICANT_DIGITS`] significant digits.
pub fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    s.parse()
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first()
            && (c == b'+' || c == b'-')
        {
            negative = c == b'-';
            i = 1;
        }
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &s[num_start..i];
        let suffix = &s[i..];
        if number.is_empty() {
            return Err(QuantityError::Format);
        }
        if number.matches('.').count() > 1 || !number.bytes().any(|b| b.is_ascii_digit()) {
            return Err(QuantityError::Format);
        }
        check_suffix_shape(suffix)?;
        let (exp10_suffix, exp2, format) = parse_suffix(suffix)?;

        // Digits of the mantissa without the dot; exponent adjusted for the fraction.
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let mut digits: String = format!("{int_part}{frac_part}");
        let mut exp10 = exp10_suffix - frac_part.len() as i32;
        let trimmed = digits.trim_start_matches('0');
        digits = trimmed.to_owned();
        // Trailing zeros move into the exponent.
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
            exp10 += 1;
        }
        if digits.is_empty() {
            return Ok(Quantity { mantissa: 0, exp10: 0, exp2: 0, format });
        }
        if digits.len() > MAX_SIGNIFICANT_DIGITS {
            return Err(QuantityError::TooPrecise);
        }
        if exp10.abs() > MAX_EXP10 {
            return Err(QuantityError::TooPrecise);
        }
        let mut mantissa: i64 = digits.parse().map_err(|_| QuantityError::Format)?;
        if negative {
            mantissa = -mantissa;
        }
        Ok(Quantity { mantissa, exp10, exp2, format })
    }
}

/// The suffix must match `[eEinumkKMGTP]*[-+]?[0-9]*` (Kubernetes' regex).
fn check_suffix_shape(suffix: &str) -> Result<(), QuantityError> {
    let letters_end = suffix.find(|c: char| !matches!(c, 'e' | 'E' | 'i' | 'n' | 'u' | 'm' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')).unwrap_or(suffix.len());
    let rest = &suffix[letters_end..];
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if rest.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err(QuantityError::Format) }
}

/// Returns (decimal exponent, binary exponent, format) for a suffix.
fn parse_suffix(suffix: &str) -> Result<(i32, u32, QuantityFormat), QuantityError> {
    let decimal = |e: i32| Ok((e, 0, QuantityFormat::DecimalSI));
    let binary = |e: u32| Ok((0, e, QuantityFormat::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E']).ok_or(QuantityError::Suffix)?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 4 {
                return Err(QuantityError::Suffix);
            }
            let e: i32 = rest.parse().map_err(|_| QuantityError::Suffix)?;
            Ok((e, 0, QuantityFormat::DecimalExponent))
        }
    }
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Quantity {
    /// The zero quantity.
    pub const ZERO: Quantity = Quantity { mantissa: 0, exp10: 0, exp2: 0, format: QuantityFormat::DecimalSI };

    /// The whole number `value` (bytes, cores) in `format`: how a sum of
    /// quantities is shown, in the format of the first one added, as
    /// Kubernetes' `Quantity.Add` keeps the receiver's.
    pub fn from_value(value: i64, format: QuantityFormat) -> Quantity {
        Quantity { mantissa: value, exp10: 0, exp2: 0, format }
    }

    /// How the quantity was written.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// True when the quantity is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// True when the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// `ceil(self × 10^-scale)` as an `i64`, saturating at the `i64` range.
    /// `scaled_value(0)` is [`value`](Self::value), `scaled_value(-3)` is
    /// [`milli_value`](Self::milli_value).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        if self.mantissa == 0 {
            return 0;
        }
        // mantissa (< 10^18) × 2^exp2 (≤ 2^60) fits an i128.
        let base = i128::from(self.mantissa) << self.exp2;
        let e = self.exp10 - scale;
        let value = if e >= 0 {
            match pow10(e as u32).and_then(|p| base.checked_mul(p)) {
                Some(v) => v,
                None => return if base > 0 { i64::MAX } else { i64::MIN },
            }
        } else {
            match pow10((-e) as u32) {
                Some(p) => ceil_div(base, p),
                // Divisor beyond i128: the magnitude is below one.
                None => i128::from(base > 0),
            }
        };
        value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The value rounded up to a whole unit (bytes for memory, cores for cpu).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The value in thousandths, rounded up (millicores for cpu).
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// Exact comparison of two quantities.
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        // Compare at nano precision; any finer difference rounds up identically
        // only when the inputs differ below 1e-9, which Kubernetes also ignores.
        let a = self.scaled_value(-9);
        let b = other.scaled_value(-9);
        a.cmp(&b).then_with(|| self.scaled_value(0).cmp(&other.scaled_value(0)))
    }

    /// Digits and decimal exponent of the exact value, when it is representable
    /// in decimal (always for decimal formats; for binary when the value is an integer).
    fn decimal_parts(&self) -> Option<(i128, i32)> {
        let base = i128::from(self.mantissa).checked_mul(1i128 << self.exp2)?;
        Some((base, self.exp10))
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) { q + 1 } else { q }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

impl fmt::Display for Quantity {
    /// Canonical form, close to Kubernetes' `Quantity.String()`: `1.5Gi` shows
    /// as `1536Mi`, `1000m` as `1`, `0.5` as `500m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa == 0 {
            return f.write_str("0");
        }
        let Some((mut digits, mut exp)) = self.decimal_parts() else {
            return write!(f, "{}", self.value());
        };
        if self.format == QuantityFormat::BinarySI {
            // Integer value: express with the largest binary suffix that divides it.
            let integer = if exp >= 0 {
                pow10(exp as u32).and_then(|p| digits.checked_mul(p))
            } else {
                pow10((-exp) as u32).filter(|p| digits % p == 0).map(|p| digits / p)
            };
            if let Some(mut v) = integer {
                const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
                let mut i = 0;
                while i < 6 && v != 0 && v % 1024 == 0 {
                    v /= 1024;
                    i += 1;
                }
                return write!(f, "{v}{}", SUFFIXES[i]);
            }
        }
        // Normalize: drop trailing zeros into the exponent.
        while digits % 10 == 0 {
            digits /= 10;
            exp += 1;
        }
        // Kubernetes never shows more precision than nano: round up.
        if exp < -9 {
            let p = pow10((-9 - exp) as u32).unwrap_or(i128::MAX);
            digits = ceil_div(digits, p);
            exp = -9;
        }
        // Exponent down to a multiple of 3.
        let target = exp.div_euclid(3) * 3;
        let target = target.min(18);
        let shift = (exp - target) as u32;
        let text = format!("{digits}{}", "0".repeat(shift as usize));
        if self.format == QuantityFormat::DecimalExponent {
            return if target == 0 { f.write_str(&text) } else { write!(f, "{text}e{target}") };
        }
        let suffix = match target {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        write!(f, "{text}{suffix}")
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp_value(other))
    }
}

/// A quantity string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The string does not have the shape of a quantity.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    /// The number is followed by an unknown suffix.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// More significant digits than exact integer arithmetic supports.
    #[error("quantity has more than {max} significant digits", max = MAX_SIGNIFICANT_DIGITS)]
    TooPrecise,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        parse_quantity(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn sums_show_in_the_format_of_the_first_quantity() {
        let sum = |a: &str, b: &str| Quantity::from_value(q(a).value() + q(b).value(), q(a).format()).to_string();
        assert_eq!(sum("1Gi", "512Mi"), "1536Mi");
        assert_eq!(sum("1G", "500M"), "1500M");
        assert_eq!(sum("1Ki", "1"), "1025");
        assert_eq!(sum("1e3", "1e3"), "2e3");
    }

    #[test]
    fn values() {
        assert_eq!(q("128Mi").value(), 134_217_728);
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("500m").value(), 1);
        assert_eq!(q("1").milli_value(), 1000);
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("1Ki").value(), 1024);
        assert_eq!(q("1Ei").value(), 1 << 60);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("1M").value(), 1_000_000);
        assert_eq!(q("2G").value(), 2_000_000_000);
        assert_eq!(q("1T").value(), 1_000_000_000_000);
        assert_eq!(q("1P").value(), 1_000_000_000_000_000);
        assert_eq!(q("1E").value(), 1_000_000_000_000_000_000);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("5e-1").milli_value(), 500);
        assert_eq!(q("1.5Gi").value(), 1_610_612_736);
        assert_eq!(q("100n").milli_value(), 1);
        assert_eq!(q("1u").scaled_value(-6), 1);
        assert_eq!(q("0.1m").milli_value(), 1);
        assert_eq!(q("-1").value(), -1);
        assert_eq!(q("+2").value(), 2);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("5.").value(), 5);
        assert_eq!(q("0").value(), 0);
        assert_eq!(q("000100").value(), 100);
        assert_eq!(q("1e30").value(), i64::MAX);
    }

    #[test]
    fn display_is_canonical() {
        for (input, canonical) in [
            ("1.5Gi", "1536Mi"),
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1", "1"),
            ("2", "2"),
            ("128Mi", "128Mi"),
            ("1024Ki", "1Mi"),
            ("1500", "1500"),
            ("1000", "1k"),
            ("1e3", "1e3"),
            ("100n", "100n"),
            ("1.5Ki", "1536"),
            ("0", "0"),
            ("-500m", "-500m"),
            ("1.234", "1234m"),
        ] {
            assert_eq!(q(input).to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn comparisons() {
        assert!(q("2") > q("1"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("500m") < q("1"));
    }

    #[test]
    fn invalid_forms() {
        for bad in ["", "abc", "1.2.3", "1x", "Mi", "1MiB", "1 Mi", "--1", "1e", "1Gi1", ".", "1e1.5"] {
            assert!(parse_quantity(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(parse_quantity("abc"), Err(QuantityError::Format));
        assert_eq!(parse_quantity("1Q"), Err(QuantityError::Format));
        assert_eq!(parse_quantity("1kk"), Err(QuantityError::Suffix));
        assert_eq!(parse_quantity("1234567890123456789"), Err(QuantityError::TooPrecise));
    }
}
