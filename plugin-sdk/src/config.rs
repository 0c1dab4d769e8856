use serde::{Deserialize, Deserializer};

use crate::Error;

/// The `port` key of a kind's config table: a number reserves that port, `"auto"` (also what
/// an absent key means) lets the host pick a free one.
///
/// The host reads `port` itself and leases the service's main port before the plugin runs,
/// so a plugin gets its port from [`Service::main_port`](crate::Service::main_port), never
/// from here. It declares the key so that its `deny_unknown_fields` config accepts it, and
/// calls [`PortSetting::check`] to refuse what the host would misread.
///
/// ```
/// use serde::Deserialize;
/// use teamster_plugin_sdk::{Error, PortSetting};
///
/// /// In the JSON schema: `"port": {"type": ["integer", "string"]}`.
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config {
///     #[serde(default)]
///     port: PortSetting,
/// }
///
/// impl Config {
///     /// Called from `Kind::configure`.
///     fn validate(&self) -> Result<(), Error> {
///         self.port.check()
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(untagged)]
pub enum PortSetting {
    /// `port = N`: the host reserves port N.
    Fixed(u16),
    /// `port = "auto"`, or no `port` key: the host picks a free port.
    #[default]
    #[serde(deserialize_with = "auto")]
    Auto,
    /// Any other string. Parsing keeps it so that [`PortSetting::check`] can say what to
    /// write instead; the host would treat it like `"auto"`.
    Other(String),
}

impl PortSetting {
    /// Refuses what the host would misread: `0`, which is no port, and strings other than
    /// `"auto"`. Call it from [`Kind::configure`](crate::Kind::configure).
    pub fn check(&self) -> Result<(), Error> {
        match self {
            PortSetting::Fixed(0) => Err(Error::msg(
                "`port = 0` is not a port: write \"auto\" to let teamster pick one",
            )),
            PortSetting::Other(name) => Err(Error::msg(format!(
                "`port = \"{name}\"`: use a number or \"auto\""
            ))),
            PortSetting::Fixed(_) | PortSetting::Auto => Ok(()),
        }
    }
}

/// `{"type": ["integer", "string"]}`: the host checks the range and the spelling itself,
/// with messages of its own.
impl schemars::JsonSchema for PortSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortSetting".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["integer", "string"]})
    }
}

/// Accepts exactly the string `"auto"`, for [`PortSetting::Auto`].
fn auto<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    let name = String::deserialize(deserializer)?;
    if name == "auto" {
        Ok(())
    } else {
        Err(serde::de::Error::custom("not \"auto\""))
    }
}

#[cfg(test)]
mod tests {
    use super::PortSetting;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        port: PortSetting,
    }

    fn port(json: &str) -> Result<PortSetting, String> {
        serde_json::from_str::<Config>(json)
            .map(|c| c.port)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_spellings_the_host_accepts() {
        assert_eq!(port("{}"), Ok(PortSetting::Auto));
        assert_eq!(port(r#"{"port": "auto"}"#), Ok(PortSetting::Auto));
        assert_eq!(port(r#"{"port": 5432}"#), Ok(PortSetting::Fixed(5432)));
        assert_eq!(port(r#"{"port": 0}"#), Ok(PortSetting::Fixed(0)));
        assert_eq!(
            port(r#"{"port": "AUTO"}"#),
            Ok(PortSetting::Other("AUTO".into()))
        );
        for bad in ["70000", "-1", "1.5", "true", "null"] {
            let err = port(&format!(r#"{{"port": {bad}}}"#)).expect_err(bad);
            assert!(
                err.starts_with("data did not match any variant of untagged enum PortSetting"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn check_refuses_what_the_host_misreads() {
        let msg = |p: PortSetting| p.check().map_err(|e| e.to_string());
        assert_eq!(msg(PortSetting::Auto), Ok(()));
        assert_eq!(msg(PortSetting::Fixed(6379)), Ok(()));
        assert_eq!(
            msg(PortSetting::Fixed(0)),
            Err("`port = 0` is not a port: write \"auto\" to let teamster pick one".into())
        );
        assert_eq!(
            msg(PortSetting::Other("random".into())),
            Err("`port = \"random\"`: use a number or \"auto\"".into())
        );
    }
}
