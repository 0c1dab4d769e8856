//! Finding the links in a message's text, so a test can follow "click here to confirm"
//! without parsing HTML itself.

use std::sync::LazyLock;

use regex::Regex;

/// Absolute `http` and `https` URLs. The character class stops at whitespace, quotes and
/// angle brackets, which end a URL in `href="…"`, in `<…>` and in running text alike.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bhttps?://[^\s<>"'`]+"#).expect("the URL pattern is valid")
});

/// What kind of text the links are found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Markup {
    /// Plain text: URLs are taken as written.
    Plain,
    /// HTML: `&amp;` inside an attribute stands for `&`, so it is decoded.
    Html,
}

/// Appends the URLs in `text` to `links`, skipping those already there, in order of
/// appearance.
pub(crate) fn collect(text: &str, markup: Markup, links: &mut Vec<String>) {
    for found in URL.find_iter(text) {
        let mut url = trim_trailing_punctuation(found.as_str()).to_owned();
        if markup == Markup::Html {
            url = url.replace("&amp;", "&").replace("&#38;", "&");
        }
        if !links.contains(&url) {
            links.push(url);
        }
    }
}

/// Drops sentence punctuation after a URL ("see https://x.example/a.") and a closing
/// bracket that has no opening one inside the URL ("(at https://x.example/a)").
fn trim_trailing_punctuation(mut url: &str) -> &str {
    loop {
        let Some(last) = url.chars().last() else {
            return url;
        };
        let unbalanced = |open: char, close: char| {
            last == close && url.matches(open).count() < url.matches(close).count()
        };
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
        {
            url = &url[..url.len() - last.len_utf8()];
        } else {
            return url;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(text: &str, markup: Markup) -> Vec<String> {
        let mut links = Vec::new();
        collect(text, markup, &mut links);
        links
    }

    #[test]
    fn finds_urls_in_running_text_without_their_punctuation() {
        assert_eq!(
            links(
                "Confirm at https://app.example/confirm?token=abc. Or (see http://x.example/a_(b)).",
                Markup::Plain
            ),
            [
                "https://app.example/confirm?token=abc",
                "http://x.example/a_(b)"
            ]
        );
    }

    #[test]
    fn finds_hrefs_in_html_and_decodes_ampersands() {
        assert_eq!(
            links(
                r#"<a href="https://app.example/r?a=1&amp;b=2">go</a> <a href='HTTP://x.example/'>x</a>"#,
                Markup::Html
            ),
            ["https://app.example/r?a=1&b=2", "HTTP://x.example/"]
        );
    }

    #[test]
    fn keeps_the_first_occurrence_only() {
        let mut found = vec!["https://a.example/".to_owned()];
        collect(
            "https://b.example/ https://a.example/ https://b.example/",
            Markup::Plain,
            &mut found,
        );
        assert_eq!(found, ["https://a.example/", "https://b.example/"]);
    }

    #[test]
    fn ignores_text_without_links() {
        assert!(links("no links, only mailto:a@example.com and ftp", Markup::Plain).is_empty());
    }
}
