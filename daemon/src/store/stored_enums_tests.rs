//! The store's text-column enums: every variant's text parses back to it, and an unknown text is
//! refused naming what was read and why (the enums are written by `domain::text_enum!`).

use std::str::FromStr;

use crate::store::{
    GraphJobKind, LinkOrigin, MailboxKind, MailboxStatus, OutboxStatus, Role, SecretKind,
    SightingOutcome, SubscriptionState, SuggestionStatus,
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
    round_trips(&SightingOutcome::ALL, SightingOutcome::as_str);
    round_trips(&SubscriptionState::ALL, SubscriptionState::as_str);
    round_trips(&GraphJobKind::ALL, GraphJobKind::as_str);
    round_trips(&LinkOrigin::ALL, LinkOrigin::as_str);
    assert_eq!(
        MailboxStatus::ALL.map(MailboxStatus::as_str),
        ["ok", "needs_attention", "needs_reconsent", "paused"]
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
