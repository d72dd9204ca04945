//! Masking of subscription and tenant ids in every file a run writes.
//!
//! Ids are masked where they are recognisable (`/subscriptions/<id>`, `/tenants/<id>`, JSON
//! fields named `subscription`, `subscriptionId`, `tenant`, `tenantId`, …) and wherever a known
//! id (the run's subscription and tenant) appears in free text, such as an ARM error message.
//! A masked id keeps its length, its dashes and its last four characters
//! (`********-****-****-****-********c0de`), so runs in different subscriptions stay
//! distinguishable while the id itself does not leave the machine. Masking is idempotent:
//! masking a masked text changes nothing, which keeps `report render` byte-for-byte stable.
//! Resource names (groups, resource groups) are kept.

use std::borrow::Cow;

/// The path segments whose following segment is an id to mask.
const PATH_KEYS: &[&str] = &["/subscriptions/", "/tenants/"];
/// JSON fields whose string value is an id to mask.
const JSON_KEYS: &[&str] =
    &["\"subscription\":\"", "\"subscriptionId\":\"", "\"subscription_id\":\"", "\"tenant\":\"", "\"tenantId\":\"", "\"tenant_id\":\""];

/// Masks an id: every letter and digit but the last four becomes `*`; other characters stay.
pub fn mask(id: &str) -> String {
    let alnum = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '*').count();
    let mut seen = 0;
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '*' {
                seen += 1;
                if seen + 4 <= alnum { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

/// What to mask in the text of a report file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    enabled: bool,
    known: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Redactor {
    /// A redactor; `enabled = false` (`--no-redact`) keeps every id.
    pub fn new(enabled: bool) -> Self {
        Self { enabled, known: Vec::new() }
    }

    /// The redactor for reports of these runs: masks when any of them asked for masking (a
    /// merged report is only as open as its most private run), and knows their ids.
    pub fn for_runs<'m>(metas: impl IntoIterator<Item = &'m crate::model::RunMeta>) -> Self {
        let metas: Vec<_> = metas.into_iter().collect();
        let mut r = Self::new(metas.is_empty() || metas.iter().any(|m| m.redact));
        for m in metas {
            for id in m.subscription.iter().chain(m.tenant.iter()) {
                r.know(id);
            }
        }
        r
    }

    /// The same redactor, masking (`true`) or not; the ids it knows are kept.
    pub fn enable(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether it masks anything.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Also masks every occurrence of this id (case-insensitive), wherever it appears. Ids
    /// shorter than 8 characters are ignored: masking them would mangle ordinary words.
    pub fn know(&mut self, id: &str) {
        let id = id.trim();
        if id.len() >= 8 && !self.known.iter().any(|k| k.eq_ignore_ascii_case(id)) {
            self.known.push(id.to_string());
        }
    }

    /// Masks what it recognises in `text`.
    pub fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.enabled {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for key in PATH_KEYS {
            if let Some(s) = mask_after(&out, key, |c| {
                matches!(c, '/' | '?' | '"' | '\'' | '#' | '&' | ')' | ']' | '<' | '>' | '`' | '|' | ',') || c.is_whitespace()
            }) {
                out = Cow::Owned(s);
            }
        }
        for key in JSON_KEYS {
            if let Some(s) = mask_after(&out, key, |c| c == '"' || c == '\\') {
                out = Cow::Owned(s);
            }
        }
        for id in &self.known {
            if let Some(s) = replace_ci(&out, id, &mask(id)) {
                out = Cow::Owned(s);
            }
        }
        out
    }
}

/// Masks the run of characters after each (ASCII case-insensitive) occurrence of `key`, up to
/// the first character `end` accepts. `None` when nothing changed.
fn mask_after(text: &str, key: &str, end: impl Fn(char) -> bool) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let key_l = key.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut changed = false;
    while let Some(found) = lower[pos..].find(&key_l) {
        let start = pos + found + key.len();
        out.push_str(&text[pos..start]);
        let len = text[start..].find(&end).unwrap_or(text.len() - start);
        let seg = &text[start..start + len];
        let masked = mask(seg);
        changed |= masked != seg;
        out.push_str(&masked);
        pos = start + len;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[pos..]);
    Some(out)
}

/// Replaces every ASCII case-insensitive occurrence of `needle`. `None` when there is none.
fn replace_ci(text: &str, needle: &str, with: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let needle_l = needle.to_ascii_lowercase();
    if !lower.contains(&needle_l) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(&needle_l) {
        out.push_str(&text[pos..pos + found]);
        out.push_str(with);
        pos += found + needle.len();
    }
    out.push_str(&text[pos..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab";
    const TENANT: &str = "99999999-8888-7777-6666-555555555555";

    #[test]
    fn masks_keep_length_dashes_and_the_last_four() {
        assert_eq!(mask(SUB), "********-****-****-****-********89ab");
        assert_eq!(mask(&mask(SUB)), mask(SUB), "idempotent");
        assert_eq!(mask("abc"), "abc", "too short to hide anything: left as is");
    }

    #[test]
    fn paths_json_fields_and_known_ids_are_masked() {
        let mut r = Redactor::default();
        r.know(TENANT);
        let text = format!(
            "GET /Subscriptions/{SUB}/resourceGroups/acc-1?api-version=1 {{\"subscription\":\"{SUB}\",\"tenantId\":\"{TENANT}\"}} tenant {} said no",
            TENANT.to_uppercase()
        );
        let out = r.apply(&text);
        assert!(!out.contains(SUB) && !out.to_lowercase().contains(TENANT), "{out}");
        assert!(out.contains("/resourceGroups/acc-1?api-version=1"), "resource names are kept: {out}");
        assert!(out.contains("********-****-****-****-********89ab"), "{out}");
        assert_eq!(r.apply(&out), out, "idempotent");
        assert_eq!(out.chars().count(), text.chars().count(), "length kept");
    }

    #[test]
    fn no_redact_keeps_everything() {
        let text = format!("/subscriptions/{SUB}/x");
        assert_eq!(Redactor::new(false).apply(&text), text);
    }
}
