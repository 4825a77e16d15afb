//! What a signed outgoing webhook tells a receiver: the event kinds, and how a delivery attempt
//! ended. Both are stored as text and shown in the delivery log, so they are closed sets with
//! fixed words, never text a receiver sent.

use super::text_enum;

text_enum! {
    /// The events a list's webhook can subscribe to.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum WebhookEvent("webhook event") {
        /// Mail proposed a new contact (unreviewed).
        SuggestionCreated => "suggestion.created",
        /// A reviewer accepted (or merged) a suggestion: it is a contact now.
        SuggestionAccepted => "suggestion.accepted",
        /// An accepted contact's fields changed (a reviewer's edit or an accepted change).
        ContactChanged => "contact.changed",
    }
}

impl serde::Serialize for WebhookEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

text_enum! {
    /// How one HTTP attempt ended (the delivery log's `outcome`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AttemptOutcome("attempt outcome") {
        /// The receiver answered 2xx.
        Delivered => "delivered",
        /// The receiver answered another status (in `http_status`).
        HttpStatus => "http_status",
        /// No connection (refused, reset, DNS failure).
        Connect => "connect",
        /// No answer in time.
        Timeout => "timeout",
        /// The certificate or the TLS handshake failed.
        Tls => "tls",
        /// The host resolves to an address users may not reach.
        RefusedHost => "refused_host",
        /// The endpoint was deleted or its secret cannot be opened.
        Unusable => "unusable",
    }
}
