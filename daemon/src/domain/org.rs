//! A person's role in the whole deployment (the organisation), above the per-list roles: an
//! org admin manages accounts, the org-wide sender blocklist, the outbox and the audit log.
//! The store keeps it as text (`users.org_role`); sign-in through an identity provider may map a
//! claim to it, the operator sets it with `mailsigd user set-role`.

use super::text_enum;

text_enum! {
    /// What a user may do across the organisation.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum OrgRole("org role") {
        /// An ordinary user: their own mailboxes and the lists shared with them.
        #[default]
        User => "user",
        /// Manages users, the blocklist, notification failures and the audit log.
        Admin => "admin",
    }
    unknown(s) => format!("{s:?} is not user or admin");
    impl Display;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_admin_is_above_user() {
        for role in OrgRole::ALL {
            assert_eq!(role.as_str().parse::<OrgRole>().ok(), Some(role));
        }
        assert!(OrgRole::Admin > OrgRole::User);
        assert!("root".parse::<OrgRole>().is_err());
    }
}
