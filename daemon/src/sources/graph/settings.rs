//! What is stored per Microsoft 365 mailbox in `mailboxes.settings` (never a token: those are
//! in the vault): the Graph user id, the folders watched, and how the mailbox is read (the
//! person's own consent, or app-only under the organisation's admin consent).

/// Per-mailbox settings of the Graph source.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GraphSettings {
    /// The user's id in Microsoft Graph (`GET /me`), to recognise a re-link of the same account.
    pub user_id: String,
    /// Mail folders watched (well-known names such as `inbox`, or folder ids).
    #[serde(default)]
    pub folders: Vec<String>,
    /// How the mailbox is read; rows from before app-only access are delegated.
    #[serde(default)]
    pub access: Access,
}

/// How a Microsoft 365 mailbox is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// With the person's own consent (delegated tokens sealed per mailbox).
    #[default]
    Delegated,
    /// With the app's own tokens after the organisation's admin consent; linked and unlinked
    /// by following a group's membership, never re-consented by the person.
    AppOnly,
}

impl GraphSettings {
    /// Whether `settings` (a mailbox's) say it is read app-only.
    pub fn is_app_only(settings: &serde_json::Value) -> bool {
        GraphSettings::from_json(settings).is_ok_and(|s| s.access == Access::AppOnly)
    }

    pub fn from_json(value: &serde_json::Value) -> Result<GraphSettings, serde_json::Error> {
        serde_json::from_value(value.clone())
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "user_id": self.user_id, "folders": self.folders, "access": self.access })
    }
}
