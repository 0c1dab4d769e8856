//! Text to look for in log lines, prepared once.
//!
//! [`crate::Kind::ready_check`] runs for every line a service prints until it is ready, under
//! a short deadline. `line.contains("...")` builds a new substring searcher on each call,
//! and on a typical 100-byte line building it and running the generic search cost more
//! than the rest of the call into the plugin. A [`Needle`] is prepared once: at compile
//! time for a `const` ([`Needle::from_static`]), or when the config is parsed.

use std::borrow::Cow;

use memchr::memmem::Finder;

/// A piece of text to find in log lines. Build it once and call [`Needle::is_in`] per line:
/// a `const` with [`Needle::from_static`] for text the plugin knows, or a config field for
/// text the user writes.
///
/// ```
/// use teamster_plugin_sdk::Needle;
///
/// /// The line the server prints once it listens.
/// const READY_LINE: Needle = Needle::from_static("Ready to accept connections");
///
/// assert!(READY_LINE.is_in("1:M 01 Dec 2026 12:00:00.000 * Ready to accept connections tcp"));
/// ```
///
/// It deserializes from a string, so a config table can hold one directly:
///
/// ```
/// use serde::Deserialize;
/// use teamster_plugin_sdk::Needle;
///
/// #[derive(Deserialize)]
/// struct Config {
///     /// The line the server prints once it listens.
///     ready_line: Needle,
/// }
///
/// let cfg: Config = serde_json::from_str(r#"{"ready_line": "Listening on"}"#).unwrap();
/// assert!(cfg.ready_line.is_in("12:00:00 INFO Listening on :8080"));
/// assert!(!cfg.ready_line.is_in("12:00:00 INFO Starting"));
/// ```
#[derive(Clone)]
pub struct Needle {
    text: Cow<'static, str>,
    search: Search,
}

/// How a needle is looked for.
#[derive(Clone)]
enum Search {
    /// The empty needle, in every line.
    Empty,
    /// Prepared at compile time: find the needle's rarest byte (the `at`-th) with
    /// `memchr`, which scans many bytes per instruction, then compare the whole needle
    /// around it. Log lines are short and a rare byte seldom repeats in them, so this
    /// costs about what a prebuilt searcher does, without building one.
    RareByte { byte: u8, at: usize },
    /// Prepared at run time: `memchr`'s substring searcher, built once (boxed: natively
    /// it holds several SIMD searchers, too big to carry inline in every needle).
    Finder(Box<Finder<'static>>),
}

impl Needle {
    /// A needle for text known when the plugin is compiled, usable in a `const`: nothing
    /// is built at run time, so no `LazyLock` is needed.
    pub const fn from_static(text: &'static str) -> Self {
        let bytes = text.as_bytes();
        let search = if bytes.is_empty() {
            Search::Empty
        } else {
            let at = rarest(bytes);
            Search::RareByte {
                byte: bytes[at],
                at,
            }
        };
        Needle {
            text: Cow::Borrowed(text),
            search,
        }
    }

    /// Prepares a search for `text` (a config value, say). An empty needle is in every line.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let search = if text.is_empty() {
            Search::Empty
        } else {
            Search::Finder(Box::new(Finder::new(text.as_bytes()).into_owned()))
        };
        Needle {
            text: Cow::Owned(text),
            search,
        }
    }

    /// Whether `line` contains the text.
    pub fn is_in(&self, line: &str) -> bool {
        let hay = line.as_bytes();
        match &self.search {
            Search::Empty => true,
            Search::Finder(finder) => finder.find(hay).is_some(),
            Search::RareByte { byte, at } => {
                let needle = self.text.as_bytes();
                memchr::memchr_iter(*byte, hay).any(|found| {
                    found
                        .checked_sub(*at)
                        .and_then(|start| hay.get(start..start + needle.len()))
                        == Some(needle)
                })
            }
        }
    }

    /// The text looked for.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The index of the byte of `bytes` least likely in a log line, by a rough rank of
/// English text and log punctuation (spaces and common letters are the worst choices).
const fn rarest(bytes: &[u8]) -> usize {
    let mut best = 0;
    let mut i = 1;
    while i < bytes.len() {
        if commonness(bytes[i]) < commonness(bytes[best]) {
            best = i;
        }
        i += 1;
    }
    best
}

const fn commonness(b: u8) -> u8 {
    match b {
        b' ' => 255,
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b'h' | b'l' => 220,
        b'd' | b'c' | b'u' => 200,
        b'a'..=b'z' => 150,
        b'0'..=b'9' | b':' | b'.' | b',' | b'-' | b'/' | b'=' | b'[' | b']' => 140,
        b'A'..=b'Z' => 100,
        _ => 60,
    }
}

impl std::fmt::Debug for Needle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Needle").field(&self.text).finish()
    }
}

impl PartialEq for Needle {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Needle {}

/// A string, as it deserializes from.
impl schemars::JsonSchema for Needle {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Needle".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

impl<'de> serde::Deserialize<'de> for Needle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Needle::new)
    }
}

#[cfg(test)]
mod tests {
    use super::Needle;

    #[test]
    fn finds_text_anywhere_in_the_line() {
        let needle = Needle::new("ready to accept");
        assert!(needle.is_in("ready to accept connections"));
        assert!(needle.is_in("LOG:  database system is ready to accept connections"));
        assert!(needle.is_in("... is ready to accept"));
        assert!(!needle.is_in("ready to accep"));
        assert!(!needle.is_in(""));
        assert!(!needle.is_in("READY TO ACCEPT"));
    }

    #[test]
    fn handles_non_ascii_and_empty_needles() {
        assert!(Needle::new("prêt").is_in("serveur prêt à l'écoute"));
        assert!(!Needle::new("prêt").is_in("serveur pret"));
        assert!(Needle::new("").is_in("anything"));
        assert!(Needle::new("").is_in(""));
    }

    #[test]
    fn a_static_needle_finds_what_a_built_one_finds() {
        const READY: Needle = Needle::from_static("database system is ready to accept connections");
        let built = Needle::new(READY.as_str());
        let lines = [
            "LOG:  database system is ready to accept connections",
            "database system is ready to accept connections",
            "database system is ready to accept connection",
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "b database system is ready to accept connections b",
            "",
            "LOG:  database system was shut down",
        ];
        for line in lines {
            assert_eq!(READY.is_in(line), built.is_in(line), "{line:?}");
        }
        assert_eq!(READY, built);
        for text in ["x", "Ready", "a b", "é", "prêt à l'écoute", "  "] {
            let fixed = Needle::from_static(text);
            for line in [
                "x",
                "Ready to go",
                "a b c",
                "café",
                "serveur prêt à l'écoute",
                "   ",
                "",
            ] {
                assert_eq!(
                    fixed.is_in(line),
                    Needle::new(text).is_in(line),
                    "{text:?} in {line:?}"
                );
            }
        }
        assert!(Needle::from_static("").is_in(""));
    }

    #[test]
    fn deserializes_from_a_string_and_compares_by_text() {
        let needle: Needle = serde_json::from_str(r#""Listening on""#).unwrap();
        assert_eq!(needle, Needle::new("Listening on"));
        assert_eq!(needle.as_str(), "Listening on");
        assert!(serde_json::from_str::<Needle>("12").is_err());
    }
}
