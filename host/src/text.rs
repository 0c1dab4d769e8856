//! Small pieces of the wording of user-visible messages, shared so that every error says
//! "did you mean", lists names, and says "none" the same way.

/// ` (did you mean `x`?)` after a name that was not found, or nothing.
pub(crate) fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn backticked(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a, b, c`, or `none`.
pub(crate) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        assert_eq!(did_you_mean(Some("db")), " (did you mean `db`?)");
        assert_eq!(did_you_mean(None), "");
        let words = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(backticked(&words), "`a`, `b`");
        assert_eq!(list_or_none(&words), "a, b");
        assert_eq!(list_or_none(&[]), "none");
    }
}
