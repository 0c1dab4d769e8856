//! The grammar of a value with references: parsing `${service.key}`, `$${` and the rest
//! into a [`Template`], and filling one in.

use super::*;

/// The namespace of a reference: what the part before the dot names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `${db.url}`: the connection info of another service.
    Service(String),
    /// `${self.port}`: the service's own `connection` table.
    Own,
    /// `${env.HOME}`: the environment teamster runs in.
    HostEnv,
}

/// One well-formed `${namespace.key}` inside a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What the reference points into.
    pub target: Target,
    /// The key (or variable name) after the dot.
    pub key: String,
    /// Byte offset of the `$` in the value.
    pub offset: usize,
    /// Length in bytes of the reference as written, from `$` to `}`.
    pub len: usize,
}

impl Reference {
    /// The namespace as written: a service name, `self` or `env`.
    pub fn namespace(&self) -> &str {
        match &self.target {
            Target::Service(name) => name,
            Target::Own => "self",
            Target::HostEnv => "env",
        }
    }

    /// The service named by a `${service.key}` reference, if it is one.
    pub fn service(&self) -> Option<&str> {
        match &self.target {
            Target::Service(name) => Some(name),
            Target::Own | Target::HostEnv => None,
        }
    }
}

/// Shows the reference as it is written: `${db.url}`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}.{}}}", self.namespace(), self.key)
    }
}

/// What is wrong with a malformed reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// `${db.url` without a closing `}`.
    Unterminated,
    /// `${}`.
    Empty,
    /// `${db}` or `${db.}`.
    NoKey,
    /// `${.url}`.
    NoNamespace,
    /// A character other than `[A-Za-z0-9_-]` in a name, such as a space or a second dot.
    InvalidChar(char),
}

/// A malformed `${…}` in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the `$` in the value.
    pub offset: usize,
    /// The reference as written (for an unclosed one, as far as it goes).
    pub text: String,
    /// What is wrong.
    pub problem: SyntaxProblem,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.text;
        match self.problem {
            SyntaxProblem::Unterminated => write!(
                f,
                "`{text}` is not closed by `}}`; write `$${{` for a literal `${{`"
            ),
            SyntaxProblem::Empty => write!(
                f,
                "`${{}}` names nothing; write `${{service.key}}`, such as `${{db.url}}`"
            ),
            SyntaxProblem::NoKey => {
                let namespace = text
                    .trim_start_matches("${")
                    .trim_end_matches('}')
                    .trim_end_matches('.');
                if namespace == "env" {
                    write!(
                        f,
                        "`{text}` names no variable; write `${{env.NAME}}`, such as `${{env.HOME}}`"
                    )
                } else if text.ends_with(".}") {
                    write!(
                        f,
                        "`{text}` names no key; write `${{{namespace}.<key>}}`, such as `${{{namespace}.url}}`"
                    )
                } else {
                    // `${HOME}` is as likely a shell variable as a service without a key.
                    write!(
                        f,
                        "`{text}` names no key; write `${{{namespace}.<key>}}` for a service's connection info, `${{env.{namespace}}}` for teamster's environment, or `$${{{namespace}}}` to leave `{text}` to a shell"
                    )
                }
            }
            SyntaxProblem::NoNamespace => write!(
                f,
                "`{text}` names no service; write `${{<service>.<key>}}`, such as `${{db.url}}`"
            ),
            SyntaxProblem::InvalidChar(c) => write!(
                f,
                "`{text}` contains {c:?}; a reference is `${{service.key}}` with names of ASCII letters, digits, `_` and `-`; write `$${{` for a literal `${{`"
            ),
        }
    }
}

impl std::error::Error for SyntaxError {}

/// One part of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    /// Text taken as it is (escapes already undone).
    Text(String),
    /// A reference to fill in.
    Ref(Reference),
}

/// A value parsed into literal text and references, ready to be filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `value`, undoing `$${` escapes.
    pub fn parse(value: &str) -> Result<Template, SyntaxError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = value;
        while let Some(dollar) = rest.find('$') {
            text.push_str(&rest[..dollar]);
            let offset = value.len() - rest.len() + dollar;
            let after = &rest[dollar..];
            if let Some(escaped) = after.strip_prefix("$${") {
                text.push_str("${");
                rest = escaped;
            } else if after.starts_with("${") {
                let (reference, len) = parse_reference(after, offset)?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Ref(reference));
                rest = &after[len..];
            } else {
                text.push('$');
                rest = &after[1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template { pieces })
    }

    /// The references, in the order written.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Ref(reference) => Some(reference),
            Piece::Text(_) => None,
        })
    }

    /// Whether the value has no references (it may still have had escapes).
    pub fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    /// The value with every reference replaced by what `lookup` returns for it; the first
    /// error of `lookup` stops the rendering.
    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&Reference) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Ref(reference) => out.push_str(&lookup(reference)?),
            }
        }
        Ok(out)
    }
}

/// Whether `c` may appear in a service name, a key or a variable name of a reference.
pub(super) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Parses the reference at the start of `text` (which starts with `${`); `offset` is where
/// `text` starts in the whole value. Returns the reference and its length.
pub(super) fn parse_reference(
    text: &str,
    offset: usize,
) -> Result<(Reference, usize), SyntaxError> {
    let error = |text: &str, problem| SyntaxError {
        offset,
        text: text.to_owned(),
        problem,
    };
    let body_and_rest = &text[2..];
    let Some(close) = body_and_rest.find('}') else {
        // Quote only the part that could belong to the reference, not the rest of the value.
        let end = body_and_rest
            .find(|c: char| !(is_name_char(c) || c == '.'))
            .unwrap_or(body_and_rest.len());
        return Err(error(&text[..2 + end], SyntaxProblem::Unterminated));
    };
    let len = 2 + close + 1;
    let written = &text[..len];
    let body = &body_and_rest[..close];
    if body.is_empty() {
        return Err(error(written, SyntaxProblem::Empty));
    }
    let (namespace, key) = body.split_once('.').unwrap_or((body, ""));
    if let Some(bad) = namespace
        .chars()
        .chain(key.chars())
        .find(|c| !is_name_char(*c))
    {
        return Err(error(written, SyntaxProblem::InvalidChar(bad)));
    }
    if namespace.is_empty() {
        return Err(error(written, SyntaxProblem::NoNamespace));
    }
    if key.is_empty() {
        return Err(error(written, SyntaxProblem::NoKey));
    }
    let target = match namespace {
        "self" => Target::Own,
        "env" => Target::HostEnv,
        service => Target::Service(service.to_owned()),
    };
    Ok((
        Reference {
            target,
            key: key.to_owned(),
            offset,
            len,
        },
        len,
    ))
}

/// Every reference in `value`, in the order written.
pub fn references(value: &str) -> Result<Vec<Reference>, SyntaxError> {
    Ok(Template::parse(value)?.references().cloned().collect())
}

/// Why a value could not be filled in by [`interpolate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The value has a malformed reference.
    #[error("invalid reference")]
    Syntax(#[source] SyntaxError),
    /// The lookup had no value for a reference.
    #[error("nothing to fill in for `{0}`")]
    Unresolved(Reference),
}

/// Fills in every reference of `value` with `lookup(namespace, key)`, where the namespace
/// is written as in the value (`db`, `self` or `env`). This is the plain, context-free
/// form; the orchestrator uses [`ServiceSpec::interpolated`], which knows the namespaces
/// and explains failures.
pub fn interpolate(
    value: &str,
    lookup: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<String, TemplateError> {
    Template::parse(value)
        .map_err(TemplateError::Syntax)?
        .render(|reference| {
            lookup(reference.namespace(), &reference.key)
                .ok_or_else(|| TemplateError::Unresolved(reference.clone()))
        })
}
