//! Human durations such as `250ms`, `1.5s` or `1m30s`.
//!
//! Timeouts are written by people, so the bundle file accepts the forms people type. The
//! parser works on integers of nanoseconds rather than floats so that `0.1s` is exactly
//! 100 ms and a typo can never round into a surprising value.

use std::time::Duration;

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// The text was empty.
    #[error("a duration cannot be empty; write for example `15s` or `250ms`")]
    Empty,
    /// A number had no unit after it.
    #[error("`{number}` has no unit; add one of `ms`, `s`, `m` or `h`")]
    MissingUnit {
        /// The number without a unit.
        number: String,
    },
    /// A number in scientific notation (`1e30s`).
    #[error(
        "`{text}` is in scientific notation, which durations do not take; write for example `15s` or `1h`"
    )]
    Scientific {
        /// The duration as written.
        text: String,
    },
    /// A unit was not one of the known ones.
    #[error("unknown unit `{unit}`; use `ms`, `s`, `m` or `h`")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// A unit came without a number before it, or the number was malformed.
    #[error("expected a number at `{rest}`")]
    ExpectedNumber {
        /// The text from the point where a number was expected.
        rest: String,
    },
    /// The duration was negative.
    #[error("a duration cannot be negative")]
    Negative,
    /// The number was NaN or infinite.
    #[error("a duration must be a finite number")]
    NotFinite,
    /// The duration does not fit in a [`Duration`].
    #[error("the duration is too large")]
    Overflow,
}

/// Nanoseconds per unit, longest unit names first so that `ms` wins over `m`.
const UNITS: [(&str, u128); 4] = [
    ("ms", 1_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
];

/// Parses `250ms`, `15s`, `1.5s`, `2m`, `1h` or a sequence such as `1m30s`.
///
/// Every component needs a unit; a bare number is rejected because `15` could mean
/// seconds or milliseconds depending on who reads it. (The bundle file accepts bare TOML
/// numbers as seconds through [`duration_from_secs_f64`] and [`duration_from_secs`].)
pub fn parse_duration(text: &str) -> Result<Duration, ParseDurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseDurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(ParseDurationError::Negative);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(ParseDurationError::ExpectedNumber {
                rest: rest.to_owned(),
            });
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit = unit.trim();
        if unit.is_empty() {
            return Err(ParseDurationError::MissingUnit {
                number: number.to_owned(),
            });
        }
        let Some(&(_, per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            let exponent = unit
                .strip_prefix(['e', 'E'])
                .is_some_and(|r| r.is_empty() || r.starts_with(['+', '-']))
                && next.starts_with(|c: char| c.is_ascii_digit());
            if exponent {
                return Err(ParseDurationError::Scientific {
                    text: text.to_owned(),
                });
            }
            return Err(ParseDurationError::UnknownUnit {
                unit: unit.to_owned(),
            });
        };
        total = total
            .checked_add(scaled(number, per_unit)?)
            .ok_or(ParseDurationError::Overflow)?;
        rest = next.trim_start();
    }
    nanos_to_duration(total)
}

/// Converts a TOML float number of seconds into a [`Duration`].
pub fn duration_from_secs_f64(secs: f64) -> Result<Duration, ParseDurationError> {
    if secs.is_nan() || secs.is_infinite() {
        return Err(ParseDurationError::NotFinite);
    }
    if secs < 0.0 {
        return Err(ParseDurationError::Negative);
    }
    Duration::try_from_secs_f64(secs).map_err(|_| ParseDurationError::Overflow)
}

/// Converts a TOML integer number of seconds into a [`Duration`].
pub fn duration_from_secs(secs: i64) -> Result<Duration, ParseDurationError> {
    u64::try_from(secs)
        .map(Duration::from_secs)
        .map_err(|_| ParseDurationError::Negative)
}

/// `number` (digits with at most one `.`) times `per_unit` nanoseconds, exactly; digits
/// beyond nanosecond precision are dropped.
fn scaled(number: &str, per_unit: u128) -> Result<u128, ParseDurationError> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| ParseDurationError::Overflow)?
    };
    let mut nanos = whole
        .checked_mul(per_unit)
        .ok_or(ParseDurationError::Overflow)?;
    // Only the first 18 fraction digits can matter for the largest unit (an hour is
    // 3.6e12 ns), and keeping them bounded keeps the power of ten inside a u128.
    let fraction = &fraction[..fraction.len().min(18)];
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().map_err(|_| ParseDurationError::Overflow)?;
        let scale = 10u128.pow(fraction.len() as u32);
        nanos = nanos
            .checked_add(digits * per_unit / scale)
            .ok_or(ParseDurationError::Overflow)?;
    }
    Ok(nanos)
}

fn nanos_to_duration(nanos: u128) -> Result<Duration, ParseDurationError> {
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| ParseDurationError::Overflow)?;
    // The remainder is below one billion, so it always fits in a u32.
    let subsec = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("15s"), Ok(ms(15_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h 2m 3s 4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_duration(" 0.1s "), Ok(ms(100)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1_500)));
        assert_eq!(parse_duration("1.0000000001s"), Ok(ms(1_000)));
    }

    #[test]
    fn numbers_of_seconds() {
        assert_eq!(duration_from_secs(15), Ok(ms(15_000)));
        assert_eq!(duration_from_secs_f64(0.25), Ok(ms(250)));
        assert_eq!(duration_from_secs(-1), Err(ParseDurationError::Negative));
        assert_eq!(
            duration_from_secs_f64(-0.5),
            Err(ParseDurationError::Negative)
        );
        assert_eq!(
            duration_from_secs_f64(f64::NAN),
            Err(ParseDurationError::NotFinite)
        );
        assert_eq!(
            duration_from_secs_f64(f64::INFINITY),
            Err(ParseDurationError::NotFinite)
        );
        assert_eq!(
            duration_from_secs_f64(1e30),
            Err(ParseDurationError::Overflow)
        );
    }

    #[test]
    fn rejects_malformed_text_with_the_reason() {
        let render = |text: &str| parse_duration(text).unwrap_err().to_string();
        insta::assert_snapshot!(render(""), @"a duration cannot be empty; write for example `15s` or `250ms`");
        insta::assert_snapshot!(render("15"), @"`15` has no unit; add one of `ms`, `s`, `m` or `h`");
        insta::assert_snapshot!(render("1m30"), @"`30` has no unit; add one of `ms`, `s`, `m` or `h`");
        insta::assert_snapshot!(render("15 sec"), @"unknown unit `sec`; use `ms`, `s`, `m` or `h`");
        insta::assert_snapshot!(render("s"), @"expected a number at `s`");
        insta::assert_snapshot!(render("1.2.3s"), @"expected a number at `1.2.3s`");
        insta::assert_snapshot!(render("-5s"), @"a duration cannot be negative");
        insta::assert_snapshot!(render("99999999999999999999999h"), @"the duration is too large");
    }
}
