//! What a time travel asks for, how users write it, and how an offset is shown.
//!
//! Users type travels on the command line and in tests, so the syntax is short
//! (`+30d`, `-2h`, `1d2h30m`, `90s`) and the errors say what was expected. Offsets are
//! shown back in the same syntax, so what `teamster travel` prints can be typed again.

use chrono::{DateTime, Duration, FixedOffset};

/// A requested jump of the bundle's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Travel {
    /// Move the clock by this much (negative: into the past). Relative travels add up.
    By(Duration),
    /// Move the clock so that it reads this instant now.
    To(DateTime<FixedOffset>),
}

/// Why a travel could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TravelParseError {
    /// Nothing to parse.
    #[error("empty time travel: expected a duration such as `+30d`, `-2h` or `1d2h30m`")]
    Empty,
    /// A number had no unit after it.
    #[error("`{input}` has a number without a unit: add one of w, d, h, m, s, ms (e.g. `90s`)")]
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// A unit that is not one of w, d, h, m, s, ms.
    #[error("`{input}` has an unknown unit `{unit}`: use w, d, h, m, s or ms")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unit as written.
        unit: String,
    },
    /// A unit with no number before it, or a stray character.
    #[error(
        "`{input}` is not a duration: expected a sign, then number-unit pairs such as `+1d2h30m`"
    )]
    Malformed {
        /// The whole input.
        input: String,
    },
    /// The duration does not fit (more than about 292 years).
    #[error("`{input}` is too large a jump")]
    TooLarge {
        /// The whole input.
        input: String,
    },
    /// Not an RFC 3339 date-time.
    #[error("`{input}` is not an RFC 3339 date-time such as `2027-01-01T09:00:00+01:00`")]
    NotRfc3339 {
        /// The whole input.
        input: String,
        /// What chrono objected to.
        #[source]
        cause: chrono::ParseError,
    },
}

impl Travel {
    /// Parses a relative travel: an optional sign, then one or more number-unit pairs,
    /// optionally separated by spaces. Units: `w`, `d`, `h`, `m`, `s`, `ms`.
    ///
    /// As a convenience for command lines, anything that is not a duration but looks like a
    /// date (it contains a `-` after its first character and a `:`) is parsed with
    /// [`Travel::to_rfc3339`].
    pub fn parse(input: &str) -> Result<Travel, TravelParseError> {
        let text = input.trim();
        if text.len() > 1 && text[1..].contains('-') && text.contains(':') {
            return Travel::to_rfc3339(text);
        }
        parse_duration(input).map(Travel::By)
    }

    /// Parses an absolute travel from an RFC 3339 date-time; its UTC offset is respected.
    pub fn to_rfc3339(input: &str) -> Result<Travel, TravelParseError> {
        DateTime::parse_from_rfc3339(input.trim())
            .map(Travel::To)
            .map_err(|cause| TravelParseError::NotRfc3339 {
                input: input.to_owned(),
                cause,
            })
    }
}

impl std::str::FromStr for Travel {
    type Err = TravelParseError;

    fn from_str(s: &str) -> Result<Travel, TravelParseError> {
        Travel::parse(s)
    }
}

fn parse_duration(input: &str) -> Result<Duration, TravelParseError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(TravelParseError::Empty);
    }
    let (negative, mut rest) = match text.as_bytes()[0] {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    let malformed = || TravelParseError::Malformed {
        input: input.to_owned(),
    };
    let too_large = || TravelParseError::TooLarge {
        input: input.to_owned(),
    };
    let mut total = Duration::zero();
    let mut pairs = 0;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| too_large())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "" if rest.is_empty() || rest.starts_with(' ') => {
                return Err(TravelParseError::MissingUnit {
                    input: input.to_owned(),
                });
            }
            "" => return Err(malformed()),
            "w" => number
                .checked_mul(7 * 86_400)
                .and_then(Duration::try_seconds),
            "d" => number.checked_mul(86_400).and_then(Duration::try_seconds),
            "h" => number.checked_mul(3_600).and_then(Duration::try_seconds),
            "m" => number.checked_mul(60).and_then(Duration::try_seconds),
            "s" => Duration::try_seconds(number),
            "ms" => Duration::try_milliseconds(number),
            other => {
                return Err(TravelParseError::UnknownUnit {
                    input: input.to_owned(),
                    unit: other.to_owned(),
                });
            }
        };
        total = part
            .and_then(|p| total.checked_add(&p))
            .ok_or_else(too_large)?;
        // Offsets are kept in nanoseconds as an i64, so anything that does not fit there is
        // too large even if chrono could hold it.
        total.num_nanoseconds().ok_or_else(too_large)?;
        pairs += 1;
    }
    if pairs == 0 {
        return Err(malformed());
    }
    Ok(if negative { -total } else { total })
}

/// Shows an offset in the syntax [`Travel::parse`] reads: a sign, then the non-zero days,
/// hours, minutes and seconds (`+30d`, `-2h`, `+1d 2h 3m`). Offsets under a second show
/// milliseconds; longer ones are shown to the second.
pub fn format_offset(offset: Duration) -> String {
    let sign = if offset < Duration::zero() { '-' } else { '+' };
    let abs = offset.abs();
    if abs < Duration::seconds(1) {
        let ms = abs.num_milliseconds();
        return if ms == 0 {
            format!("{sign}0s")
        } else {
            format!("{sign}{ms}ms")
        };
    }
    let total = abs.num_seconds();
    let parts = [
        (total / 86_400, "d"),
        (total / 3_600 % 24, "h"),
        (total / 60 % 60, "m"),
        (total % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    format!("{sign}{}", shown.join(" "))
}

impl From<Duration> for Travel {
    fn from(d: Duration) -> Travel {
        Travel::By(d)
    }
}

impl From<DateTime<FixedOffset>> for Travel {
    fn from(t: DateTime<FixedOffset>) -> Travel {
        Travel::To(t)
    }
}

impl From<DateTime<chrono::Utc>> for Travel {
    fn from(t: DateTime<chrono::Utc>) -> Travel {
        Travel::To(t.fixed_offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(input: &str) -> Duration {
        match Travel::parse(input) {
            Ok(Travel::By(d)) => d,
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn relative_travels_parse() {
        assert_eq!(by("+30d"), Duration::days(30));
        assert_eq!(by("-2h"), -Duration::hours(2));
        assert_eq!(
            by("+1d2h30m"),
            Duration::days(1) + Duration::hours(2) + Duration::minutes(30)
        );
        assert_eq!(by("90s"), Duration::seconds(90));
        assert_eq!(by(" -1d 2h "), -(Duration::days(1) + Duration::hours(2)));
        assert_eq!(by("2w"), Duration::days(14));
        assert_eq!(by("1500ms"), Duration::milliseconds(1500));
        assert_eq!(by("+0s"), Duration::zero());
    }

    #[test]
    fn absolute_travels_keep_their_time_zone() {
        let Ok(Travel::To(t)) = Travel::to_rfc3339("2027-01-01T09:00:00+01:00") else {
            panic!("not absolute");
        };
        assert_eq!(t.offset().local_minus_utc(), 3600);
        assert_eq!(t.timestamp(), 1_798_790_400);
        assert_eq!(
            Travel::parse("2027-01-01T09:00:00+01:00"),
            Travel::to_rfc3339("2027-01-01T09:00:00+01:00")
        );
    }

    #[test]
    fn errors_say_what_was_expected() {
        let errors: Vec<String> = [
            "",
            "90",
            "3y",
            "+",
            "d",
            "1d-2h",
            "99999999999999999999d",
            "400000d",
        ]
        .iter()
        .map(|input| format!("{input:?} → {}", Travel::parse(input).unwrap_err()))
        .chain(std::iter::once(format!(
            "to_rfc3339 → {}",
            Travel::to_rfc3339("2027-01-01 09:00").unwrap_err()
        )))
        .collect();
        insta::assert_snapshot!(errors.join("\n"), @r#"
            "" → empty time travel: expected a duration such as `+30d`, `-2h` or `1d2h30m`
            "90" → `90` has a number without a unit: add one of w, d, h, m, s, ms (e.g. `90s`)
            "3y" → `3y` has an unknown unit `y`: use w, d, h, m, s or ms
            "+" → `+` is not a duration: expected a sign, then number-unit pairs such as `+1d2h30m`
            "d" → `d` is not a duration: expected a sign, then number-unit pairs such as `+1d2h30m`
            "1d-2h" → `1d-2h` is not a duration: expected a sign, then number-unit pairs such as `+1d2h30m`
            "99999999999999999999d" → `99999999999999999999d` is too large a jump
            "400000d" → `400000d` is too large a jump
            to_rfc3339 → `2027-01-01 09:00` is not an RFC 3339 date-time such as `2027-01-01T09:00:00+01:00`
            "#);
    }

    #[test]
    fn offsets_are_shown_in_the_parse_syntax() {
        let offsets = [
            Duration::days(30),
            -Duration::hours(2),
            Duration::days(1) + Duration::hours(2) + Duration::minutes(3),
            Duration::zero(),
            -Duration::milliseconds(250),
            Duration::seconds(90) + Duration::nanoseconds(999_999),
        ];
        let shown: Vec<String> = offsets.into_iter().map(format_offset).collect();
        insta::assert_snapshot!(shown.join(", "), @"+30d, -2h, +1d 2h 3m, +0s, -250ms, +1m 30s");
        // What is shown can be typed back, to the precision it is shown with.
        for (offset, text) in offsets.into_iter().zip(&shown) {
            let precise = if offset.abs() < Duration::seconds(1) {
                Duration::milliseconds(offset.num_milliseconds())
            } else {
                Duration::seconds(offset.num_seconds())
            };
            assert_eq!(by(text), precise, "{text}");
        }
    }
}
