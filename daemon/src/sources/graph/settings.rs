//! What is stored per Microsoft 365 mailbox in `mailboxes.settings` (never a token: those are
//! in the vault): the Graph user id and the folders watched.

/// Per-mailbox settings of the Graph source.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GraphSettings {
    /// The user's id in Microsoft Graph (`GET /me`), to recognise a re-link of the same account.
    pub user_id: String,
    /// Mail folders watched (well-known names such as `inbox`, or folder ids).
    #[serde(default)]
    pub folders: Vec<String>,
}

impl GraphSettings {
    pub fn from_json(value: &serde_json::Value) -> Result<GraphSettings, serde_json::Error> {
        serde_json::from_value(value.clone())
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "user_id": self.user_id, "folders": self.folders })
    }
}
