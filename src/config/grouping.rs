//! Validation of `[grouping]`: template syntax and limits, with the place of the problem.

use std::ops::Range;

use super::model::GroupingConfig;
use crate::compare::grouping::parse_template;

/// Largest `max_routes` accepted: every route costs memory in the live aggregate.
pub const MAX_ROUTES_LIMIT: usize = 100_000;
/// Largest `param_after` accepted.
pub const PARAM_AFTER_LIMIT: usize = 10_000;

/// The first problem in `[grouping]`: (span, key, message).
pub(super) fn check(g: &GroupingConfig) -> Result<(), (Range<usize>, String, String)> {
    for (i, t) in g.templates.iter().enumerate() {
        parse_template(t.get_ref())
            .map_err(|m| (t.span(), format!("grouping.templates[{i}]"), m))?;
    }
    for (key, v, limit) in [
        ("max_routes", &g.max_routes, MAX_ROUTES_LIMIT),
        ("param_after", &g.param_after, PARAM_AFTER_LIMIT),
    ] {
        let x = *v.get_ref();
        if x == 0 || x > limit {
            return Err((
                v.span(),
                format!("grouping.{key}"),
                format!("must be between 1 and {limit}, got {x}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    const BASE: &str = r#"
[targets]
mono = { url = "http://127.0.0.1:8000", role = "primary" }
cand = { url = "http://127.0.0.1:8001" }
"#;

    #[test]
    fn defaults_and_templates() {
        let cfg = Config::parse(BASE, "c.toml").expect("valid");
        let limits = cfg.file.grouping.limits();
        assert_eq!(limits.max_routes, 500);
        assert_eq!(limits.param_after, 32);
        let text = format!(
            "{BASE}\n[grouping]\nmax_routes = 50\ntemplates = [\"/users/{{user_id}}/posts/{{post_id}}\", \"GET /u/{{x}}\"]\n"
        );
        let cfg = Config::parse(&text, "c.toml").expect("valid");
        assert_eq!(cfg.file.grouping.limits().max_routes, 50);
        assert_eq!(
            cfg.file.grouping.template_pairs(),
            vec![
                (
                    "*".to_string(),
                    "/users/{user_id}/posts/{post_id}".to_string()
                ),
                ("GET".to_string(), "/u/{x}".to_string())
            ]
        );
    }

    #[test]
    fn bad_values_are_located() {
        for (extra, key, line) in [
            ("[grouping]\nmax_routes = 0\n", "grouping.max_routes", 7),
            ("[grouping]\nparam_after = 0\n", "grouping.param_after", 7),
            (
                "[grouping]\ntemplates = [\"/ok\",\n  \"users/{id}\"]\n",
                "grouping.templates[1]",
                8,
            ),
            ("[grouping]\nmax_rutes = 5\n", "", 7),
        ] {
            let text = format!("{BASE}\n{extra}");
            match Config::parse(&text, "c.toml") {
                Err(ConfigError::Invalid(l)) => {
                    assert_eq!(l.line, line, "{l}");
                    if !key.is_empty() {
                        assert_eq!(l.key.as_deref(), Some(key), "{l}");
                    }
                }
                other => panic!("{extra}: expected an error, got {other:?}"),
            }
        }
    }
}
