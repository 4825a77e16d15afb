//! Why a message produced no suggestion. The names are stable: they are counter names in the
//! store (`skipped:<name>`) and metric labels. The pipeline decides most reasons; the store decides
//! [`SkipReason::Duplicate`], [`SkipReason::TargetListDeleted`] and [`SkipReason::UnverifiedSender`]
//! inside the commit, and hands the
//! same type back.

use std::fmt;

/// The reason a message was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The sender's domain is excluded globally or for this mailbox.
    ExcludedDomain,
    /// The sender is in one of the user's own domains (colleagues are not new contacts).
    OwnDomain,
    /// An automatic reply (RFC 3834 `Auto-Submitted`, `X-Autoreply` …).
    AutoReply,
    /// Bulk or list mail (`Precedence`, `List-Id`, `List-Unsubscribe`).
    Bulk,
    /// A role address (info@, noreply@, support@ …) rather than a person.
    RoleAddress,
    /// Over the configured size limit.
    TooLarge,
    /// The parser found no signature of the sender.
    NoSignature,
    /// The message has no usable sender or could not be read.
    ParseError,
    /// The message was processed before (reported by the store's exactly-once guard).
    Duplicate,
    /// The mailbox's target list was deleted before the suggestion could be committed.
    TargetListDeleted,
    /// The mailbox's owner may no longer edit its target list (unshared, or made a viewer):
    /// nothing reaches the list from then on.
    TargetListNotEditable,
    /// The signature engine panicked on this message (a bug): it is skipped, counted and marked
    /// processed, so it is not fetched again.
    EngineError,
    /// A message whose sender is not authenticated spoke of a contact it may not change (an
    /// accepted one, or one an authenticated message backs): nothing changed.
    UnverifiedSender,
    /// The sender's whole address is on the org-wide blocklist (a listed domain, or a domain
    /// the mailbox excludes, counts as [`SkipReason::ExcludedDomain`] instead).
    BlockedAddress,
}

impl SkipReason {
    /// Every reason, in a stable order (for stats and tests).
    pub const ALL: [SkipReason; 14] = [
        SkipReason::ExcludedDomain,
        SkipReason::OwnDomain,
        SkipReason::AutoReply,
        SkipReason::Bulk,
        SkipReason::RoleAddress,
        SkipReason::TooLarge,
        SkipReason::NoSignature,
        SkipReason::ParseError,
        SkipReason::Duplicate,
        SkipReason::TargetListDeleted,
        SkipReason::TargetListNotEditable,
        SkipReason::EngineError,
        SkipReason::UnverifiedSender,
        SkipReason::BlockedAddress,
    ];

    /// The stable snake_case name used in counters and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::ExcludedDomain => "excluded_domain",
            SkipReason::OwnDomain => "own_domain",
            SkipReason::AutoReply => "auto_reply",
            SkipReason::Bulk => "bulk",
            SkipReason::RoleAddress => "role_address",
            SkipReason::TooLarge => "too_large",
            SkipReason::NoSignature => "no_signature",
            SkipReason::ParseError => "parse_error",
            SkipReason::Duplicate => "duplicate",
            SkipReason::TargetListDeleted => "target_list_deleted",
            SkipReason::TargetListNotEditable => "target_list_not_editable",
            SkipReason::EngineError => "engine_error",
            SkipReason::UnverifiedSender => "unverified_sender",
            SkipReason::BlockedAddress => "blocked_address",
        }
    }

    /// The inverse of [`SkipReason::as_str`].
    pub fn from_name(name: &str) -> Option<SkipReason> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }

    /// Position in [`SkipReason::ALL`], for array-indexed counters.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indexes_match_all() {
        for (i, reason) in SkipReason::ALL.into_iter().enumerate() {
            assert_eq!(SkipReason::from_name(reason.as_str()), Some(reason));
            assert_eq!(reason.index(), i);
        }
        assert_eq!(SkipReason::from_name("nope"), None);
    }
}
