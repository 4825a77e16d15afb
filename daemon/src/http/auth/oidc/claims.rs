//! What mailsig reads from a checked ID token: the standard claims, and any other claim by name
//! (the tenant, the groups or roles that say "admin"), kept as JSON values.

use openidconnect::AdditionalClaims;
use serde::{Deserialize, Serialize};

/// Every claim the `openidconnect` crate does not know by name, kept as sent.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

impl OtherClaims {
    /// A claim that is one string, or the first string of an array.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(values) => {
                values.iter().find_map(|v| v.as_str().map(str::to_owned))
            }
            _ => None,
        }
    }

    /// Does the claim `name` equal one of `values`, or (an array) contain one of them? `true`
    /// and `"true"` count as the value `true`.
    pub fn has_any(&self, name: &str, values: &[String]) -> bool {
        let matches = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => values.iter().any(|x| x == s),
            serde_json::Value::Bool(b) => values.iter().any(|x| x == &b.to_string()),
            _ => false,
        };
        match self.claims.get(name) {
            Some(serde_json::Value::Array(items)) => items.iter().any(matches),
            Some(value) => matches(value),
            None => false,
        }
    }
}

/// Which claim makes a person an admin (`admin_claim` + `admin_values`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminMapping {
    /// The claim's name, e.g. `groups` or `roles`; `None`: no one is made admin by a provider.
    pub claim: Option<String>,
    /// The values (group names or ids, role names) that mean admin.
    pub values: Vec<String>,
}

impl AdminMapping {
    /// What the token says about the admin role when a mapping is configured (`Some`); `None`
    /// when this provider does not decide the role.
    pub fn decides(&self, claims: &OtherClaims) -> Option<bool> {
        let configured = self.claim.is_some() && !self.values.is_empty();
        configured.then(|| self.is_admin(claims))
    }

    /// Does the token say this person is an admin?
    pub fn is_admin(&self, claims: &OtherClaims) -> bool {
        self.claim
            .as_deref()
            .is_some_and(|claim| !self.values.is_empty() && claims.has_any(claim, &self.values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> OtherClaims {
        serde_json::from_value(json).unwrap_or_default()
    }

    #[test]
    fn a_group_in_an_array_or_a_single_role_makes_an_admin() {
        let mapping = AdminMapping {
            claim: Some("groups".into()),
            values: vec!["admins".into()],
        };
        assert!(mapping.is_admin(&claims(serde_json::json!({"groups": ["staff", "admins"]}))));
        assert!(mapping.is_admin(&claims(serde_json::json!({"groups": "admins"}))));
        assert!(!mapping.is_admin(&claims(serde_json::json!({"groups": ["staff"]}))));
        assert!(!mapping.is_admin(&claims(serde_json::json!({"roles": ["admins"]}))));
        let none = AdminMapping::default();
        assert!(!none.is_admin(&claims(serde_json::json!({"groups": ["admins"]}))));
    }

    #[test]
    fn the_tenant_is_read_from_a_string_claim() {
        let c = claims(serde_json::json!({"tid": "t-1", "n": 3}));
        assert_eq!(c.string("tid").as_deref(), Some("t-1"));
        assert_eq!(c.string("n"), None);
    }
}
