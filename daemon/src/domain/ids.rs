//! Newtype ids, so a `UserId` can never be passed where a `ListId` is meant.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id_type!(/// A user of the daemon (a person who links mailboxes and reviews suggestions).
    UserId);
id_type!(/// An API token row (not the token itself).
    TokenId);
id_type!(/// A contact list that receives suggestions.
    ListId);
id_type!(/// A linked mailbox (IMAP or Microsoft Graph).
    MailboxId);
id_type!(/// A sealed secret stored for the vault.
    SecretId);
id_type!(/// A contact suggestion.
    SuggestionId);
id_type!(/// A notification waiting in (or done with) the outbox.
    OutboxId);
id_type!(/// A list's outgoing webhook endpoint.
    WebhookId);
id_type!(/// One event queued for one webhook endpoint.
    WebhookDeliveryId);
