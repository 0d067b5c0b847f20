//! Alert templates (`ID`, `MESSAGE`, `DETAILS`).
//!
//! A template is text with `{{name}}` placeholders (`{{host}}`, `{{id}}`,
//! `{{level}}`, `{{ idle }}`); a leading `.` as in Kapacitor's Go templates
//! (`{{.ID}}`) is accepted and dropped. Templates are checked when the alert
//! is created so a typo is a 400, not a broken event later.

use std::fmt;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    /// Text and placeholders, in order.
    pub parts: Vec<TemplatePart>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TemplatePart {
    /// Literal text.
    Text(String),
    /// `{{name}}`: the value of column/tag/variable `name`.
    Var(String),
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("unclosed '{{{{' in template")]
    Unclosed,
    /// `{{ }}`
    #[error("empty '{{{{ }}}}' in template")]
    Empty,
    /// A placeholder containing `{` or `}`.
    #[error("invalid placeholder '{{{{{0}}}}}' in template")]
    Invalid(String),
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(TemplatePart::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed)?;
            let inner = &after[..close];
            let name = inner.trim();
            let name = name.strip_prefix('.').unwrap_or(name).trim();
            if name.is_empty() {
                return Err(TemplateError::Empty);
            }
            if name.contains(['{', '}']) {
                return Err(TemplateError::Invalid(inner.to_string()));
            }
            parts.push(TemplatePart::Var(name.to_string()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Fills the placeholders with `lookup(name)`; unknown names give an
    /// empty string (as Kapacitor's templates do for missing tags).
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Var(v) => out.push_str(&lookup(v).unwrap_or_default()),
            }
        }
        out
    }

    /// The placeholder names used.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(v) => Some(v.as_str()),
            TemplatePart::Text(_) => None,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                TemplatePart::Text(t) => f.write_str(t)?,
                TemplatePart::Var(v) => write!(f, "{{{{{v}}}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_render() {
        let t = Template::parse("{{id}} is {{ level }}: idle {{.idle}}%").expect("template");
        assert_eq!(
            t.variables().collect::<Vec<_>>(),
            vec!["id", "level", "idle"]
        );
        let s = t.render(&|n| Some(n.to_uppercase()));
        assert_eq!(s, "ID is LEVEL: idle IDLE%");
        assert_eq!(t.to_string(), "{{id}} is {{level}}: idle {{idle}}%");
    }

    #[test]
    fn errors() {
        assert_eq!(Template::parse("a {{b"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("a {{ }}"), Err(TemplateError::Empty));
        assert_eq!(
            Template::parse("{{a{b}}").map_err(|e| e.to_string()),
            Err("invalid placeholder '{{a{b}}' in template".to_string())
        );
        assert_eq!(
            TemplateError::Unclosed.to_string(),
            "unclosed '{{' in template"
        );
    }
}
