//! What an audit record says happened: a closed set of actions and object kinds. The CLI, the
//! pages and the API name an action by the same variant, so one action is written as one text
//! (`list.create`), whoever did it; a new action is a new variant, not a new string somewhere.

use super::text_enum;

text_enum! {
    /// An action recorded in the audit log.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum AuditAction("audit action") {
        UserCreate => "user.add",
        UserSetPassword => "user.set_password",
        /// The org role (user or admin) changed; the detail is the new role.
        UserSetRole => "user.set_role",
        /// An admin invited a person by e-mail (an account and an invitation link).
        UserInvite => "user.invite",
        /// The invited person used the link and chose a password.
        UserAcceptInvitation => "user.accept_invitation",
        UserDisable => "user.disable",
        UserEnable => "user.enable",
        /// Mailboxes stopped, secrets wiped, lists handed over or deleted, account closed.
        UserOffboard => "user.offboard",
        SessionSignIn => "session.sign_in",
        /// An OpenID provider's answer was refused (detail: the reason's word, never a claim).
        SessionProviderRefused => "session.provider_refused",
        /// A provider account was linked to a user (detail: the provider's name).
        UserLinkIdentity => "user.link_identity",
        SessionSignOut => "session.sign_out",
        /// A user ended one of their sessions from another (the security page).
        SessionEnd => "session.end",
        /// A sign-in's second step failed (wrong or replayed code, used recovery code).
        SessionSecondFactorRefused => "session.second_factor_refused",
        SessionRecoveryCodeUsed => "session.recovery_code_used",
        SecondFactorEnable => "second_factor.enable",
        SecondFactorDisable => "second_factor.disable",
        /// The operator (or an admin) turned a user's second factor off.
        SecondFactorReset => "second_factor.reset",
        TokenIssue => "token.issue",
        TokenRevoke => "token.revoke",
        ListCreate => "list.create",
        ListRename => "list.rename",
        ListDelete => "list.delete",
        ListShare => "list.share",
        ListUnshare => "list.unshare",
        ListAutoAccept => "list.auto_accept",
        MailboxAdd => "mailbox.add",
        MailboxRemove => "mailbox.remove",
        MailboxExclude => "mailbox.exclude",
        MailboxSetList => "mailbox.set_list",
        MailboxRecredential => "mailbox.recredential",
        MailboxPause => "mailbox.pause",
        MailboxResume => "mailbox.resume",
        MailboxLinkMicrosoftStart => "mailbox.link_microsoft.start",
        SuggestionList => "suggestion.list",
        SuggestionRead => "suggestion.read",
        SuggestionHistory => "suggestion.history",
        SuggestionAccept => "suggestion.accept",
        SuggestionDismiss => "suggestion.dismiss",
        SuggestionReopen => "suggestion.reopen",
        SuggestionMerge => "suggestion.merge",
        /// A merge undone: the values from before it put back (the detail is empty).
        SuggestionMergeUndo => "suggestion.merge_undo",
        SuggestionExport => "suggestion.export",
        /// Erased for good; the entry keeps the id only, never the erased values.
        SuggestionErase => "suggestion.erase",
        SecretsRotate => "secrets.rotate",
        GraphClientSecretSet => "graph.client_secret.set",
        WebhookAdd => "webhook.add",
        WebhookRemove => "webhook.remove",
        WebhookLog => "webhook.log",
        /// A list connected to an address book (the object is the list).
        BookConnect => "book.connect",
        /// A list's address book disconnected (the object is the list).
        BookDisconnect => "book.disconnect",
        /// A sender domain or address added to the org-wide blocklist (the detail is its kind).
        BlocklistAdd => "blocklist.add",
        BlocklistRemove => "blocklist.remove",
        /// A failed notification queued again, or dropped.
        OutboxRetry => "outbox.retry",
        OutboxDrop => "outbox.drop",
        /// The audit log was exported (as CSV).
        AuditExport => "audit.export",
        /// An admin granted the app access to the organisation's Microsoft 365 tenant.
        TenantConsent => "tenant.consent",
        /// A mail-enabled group linked: its members' mailboxes follow its membership.
        TenantGroupLink => "tenant.group_link",
        TenantGroupUnlink => "tenant.group_unlink",
        /// A person of the tenant chosen: their mailbox is linked app-only.
        TenantUserLink => "tenant.user_link",
        TenantUserUnlink => "tenant.user_unlink",
    }
    impl Display;
}

impl AuditAction {
    /// Reads a stored action. Records written before the CLI and the service layer shared one
    /// vocabulary said `list.add` for a list's creation.
    pub fn from_stored(text: &str) -> Option<AuditAction> {
        match text {
            "list.add" => Some(AuditAction::ListCreate),
            other => other.parse().ok(),
        }
    }
}

text_enum! {
    /// The kind of object an audit record names by id.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum AuditObject("audit object") {
        User => "user",
        Token => "token",
        List => "list",
        Mailbox => "mailbox",
        Suggestion => "suggestion",
        Secret => "secret",
        Secrets => "secrets",
        Webhook => "webhook",
        /// One entry of the org-wide sender blocklist.
        Blocklist => "blocklist",
        /// One notification of the outbox.
        Outbox => "outbox",
        /// The audit log itself.
        Audit => "audit",
        /// The organisation's Microsoft 365 tenant (its admin consent).
        Tenant => "tenant",
        /// A linked group of the tenant.
        TenantGroup => "tenant_group",
        /// A chosen user of the tenant.
        TenantUser => "tenant_user",
    }
    impl Display;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_distinct_and_round_trip() {
        let mut texts: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::from_stored(action.as_str()), Some(action));
        }
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), AuditAction::ALL.len());
        for object in AuditObject::ALL {
            assert_eq!(object.as_str().parse::<AuditObject>().ok(), Some(object));
        }
    }

    #[test]
    fn the_cli_s_old_list_creation_reads_as_the_one_list_create() {
        assert_eq!(
            AuditAction::from_stored("list.add"),
            Some(AuditAction::ListCreate)
        );
        assert_eq!(AuditAction::from_stored("list.made_up"), None);
    }
}
