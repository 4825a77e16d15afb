//! Enums stored as text columns (`'pending'`, `'needs_attention'`, …). Each needs the same four
//! things: its column text (`as_str`), parsing back with a [`Error::Invalid`] naming what was
//! unknown (`FromStr`, used by `parse_col`), every variant (`ALL`, for metrics and checks), and
//! for some a `Display` that prints the text. [`text_enum!`] writes them from one table of
//! variants and texts, so a new variant cannot be forgotten in one of the four.
//!
//! [`Error::Invalid`]: super::Error::Invalid

/// Declares a `Copy` enum stored as text, with `as_str`, `FromStr`, `ALL` and (with `impl
/// Display;`) `Display`:
///
/// ```text
/// text_enum! {
///     /// What a member may do with a list.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Role("role") {
///         Viewer => "viewer",
///         Owner => "owner",
///     }
///     unknown(s) => format!("{s:?} is not owner or viewer");
///     impl Display;
/// }
/// ```
///
/// The string in parentheses is the `what` of the parse error; its `reason` is
/// `unknown "<text>"` unless an `unknown(s) => …;` line says otherwise.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
        $( unknown($s:ident) => $reason:expr; )?
        $( impl $display:ident; )?
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The text stored in the column.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::Error;
            fn from_str(input: &str) -> std::result::Result<Self, Self::Err> {
                match input {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::store::Error::Invalid {
                        what: $what,
                        reason: text_enum!(@reason input $(, $s => $reason)?),
                    }),
                }
            }
        }

        $(
            impl std::fmt::$display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )?
    };
    (@reason $input:ident) => {
        format!("unknown {:?}", $input)
    };
    (@reason $input:ident, $s:ident => $reason:expr) => {{
        let $s = $input;
        $reason
    }};
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use crate::store::{
        GraphJobKind, LinkOrigin, MailboxKind, MailboxStatus, OutboxStatus, Role, SecretKind,
        SubscriptionState, SuggestionStatus,
    };

    /// Every variant's text parses back to it, and the texts are distinct.
    fn round_trips<T: FromStr + PartialEq + std::fmt::Debug + Copy>(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) where
        T::Err: std::fmt::Debug,
    {
        let mut texts: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        for (value, text) in all.iter().zip(&texts) {
            assert_eq!(text.parse::<T>().ok(), Some(*value), "{text}");
        }
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), all.len(), "duplicate texts");
    }

    fn refusal<T: FromStr>(text: &str) -> String
    where
        T::Err: std::fmt::Display,
    {
        match text.parse::<T>() {
            Ok(_) => panic!("{text:?} parsed"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn every_stored_enum_round_trips_its_text() {
        round_trips(&Role::ALL, Role::as_str);
        round_trips(&MailboxKind::ALL, MailboxKind::as_str);
        round_trips(&MailboxStatus::ALL, MailboxStatus::as_str);
        round_trips(&OutboxStatus::ALL, OutboxStatus::as_str);
        round_trips(&SecretKind::ALL, SecretKind::as_str);
        round_trips(&SuggestionStatus::ALL, SuggestionStatus::as_str);
        round_trips(&SubscriptionState::ALL, SubscriptionState::as_str);
        round_trips(&GraphJobKind::ALL, GraphJobKind::as_str);
        round_trips(&LinkOrigin::ALL, LinkOrigin::as_str);
        assert_eq!(
            MailboxStatus::ALL.map(MailboxStatus::as_str),
            ["ok", "needs_attention", "needs_reconsent"]
        );
        assert_eq!(Role::ALL, [Role::Viewer, Role::Editor, Role::Owner]);
    }

    #[test]
    fn unknown_texts_are_refused_with_what_and_why() {
        assert_eq!(
            refusal::<Role>("admin"),
            r#"invalid role: "admin" is not owner, editor or viewer"#
        );
        assert_eq!(
            refusal::<MailboxKind>("pop3"),
            r#"invalid mailbox kind: "pop3" is not imap or graph"#
        );
        assert_eq!(
            refusal::<MailboxStatus>("OK"),
            r#"invalid mailbox status: unknown "OK""#
        );
        assert_eq!(
            refusal::<OutboxStatus>(""),
            r#"invalid outbox status: unknown """#
        );
        assert_eq!(
            refusal::<SecretKind>("password"),
            r#"invalid secret kind: unknown "password""#
        );
        assert_eq!(
            refusal::<SuggestionStatus>("old"),
            r#"invalid suggestion status: unknown "old""#
        );
        assert_eq!(
            refusal::<SubscriptionState>("gone"),
            r#"invalid subscription state: unknown "gone""#
        );
        assert_eq!(
            refusal::<GraphJobKind>("fetch"),
            r#"invalid graph job kind: unknown "fetch""#
        );
        assert_eq!(
            refusal::<LinkOrigin>("mail"),
            r#"invalid link origin: unknown "mail""#
        );
    }

    #[test]
    fn display_prints_the_stored_text() {
        assert_eq!(Role::Editor.to_string(), "editor");
    }
}
