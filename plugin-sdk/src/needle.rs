//! Text to look for in log lines, prepared once.
//!
//! [`crate::Kind::ready_check`] runs for every line a service prints until it is ready, under
//! a short deadline. `line.contains("...")` builds a new substring searcher on each call,
//! and on a typical 100-byte line building it and running the generic search cost more
//! than the rest of the call into the plugin. A [`Needle`] builds its searcher once.

use memchr::memmem::Finder;

/// A piece of text to find in log lines. Build it once (a config field, or a
/// `static` behind [`std::sync::LazyLock`]) and call [`Needle::is_in`] per line.
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
    text: String,
    finder: Finder<'static>,
}

impl Needle {
    /// Prepares a search for `text`. An empty needle is in every line.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let finder = Finder::new(text.as_bytes()).into_owned();
        Needle { text, finder }
    }

    /// Whether `line` contains the text.
    pub fn is_in(&self, line: &str) -> bool {
        self.finder.find(line.as_bytes()).is_some()
    }

    /// The text looked for.
    pub fn as_str(&self) -> &str {
        &self.text
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
    fn deserializes_from_a_string_and_compares_by_text() {
        let needle: Needle = serde_json::from_str(r#""Listening on""#).unwrap();
        assert_eq!(needle, Needle::new("Listening on"));
        assert_eq!(needle.as_str(), "Listening on");
        assert!(serde_json::from_str::<Needle>("12").is_err());
    }
}
