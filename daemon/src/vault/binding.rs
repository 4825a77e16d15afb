//! What a sealed record is bound to: its purpose and the database row that holds it.
//!
//! The binding is authenticated as associated data (it enters the record's MAC but is not
//! stored in it), so a record opens only where it was sealed. Someone who can write to the
//! database but does not hold the master key can no longer move one user's sealed IMAP
//! password into another user's row, or a sealed OAuth token into the slot of a PKCE
//! verifier: the moved record fails its MAC like any damaged record.
//!
//! What the binding does not cover: which mailbox row points at a secret row
//! (`mailboxes.secret_id`). Binding to the secret's own row is what can be known when the
//! record is sealed, and re-pointing a mailbox is no more than what the same writer can do
//! by editing the mailbox's host; see SECURITY.md.

use crate::store::{SecretId, SecretKind};

/// Fixed prefix of every binding, so the associated data of this scheme can never equal the
/// associated data of another use of the same key.
const DOMAIN: &[u8] = b"mailsig vault binding v1\0";

/// The purpose and row a record is sealed for. Built only from typed ids, never from text a
/// user or server supplied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    purpose: &'static str,
    table: &'static str,
    row: String,
}

impl Binding {
    /// A record in the `secrets` table: its kind is the purpose, its id the row.
    pub fn secret(kind: SecretKind, id: SecretId) -> Self {
        Binding {
            purpose: kind.as_str(),
            table: "secrets",
            row: id.0.to_string(),
        }
    }

    /// The PKCE verifier of a Microsoft 365 linking in progress, keyed by the hash of its
    /// OAuth `state` (the `oauth_states` row).
    pub fn pkce_verifier(state_hash: &str) -> Self {
        Binding {
            purpose: "pkce_verifier",
            table: "oauth_states",
            row: state_hash.to_owned(),
        }
    }

    /// An IMAP OAuth linking in progress (provider, server settings, PKCE verifier), keyed by
    /// the hash of its OAuth `state` (the `imap_oauth_links` row).
    pub fn imap_oauth_link(state_hash: &str) -> Self {
        Binding {
            purpose: "imap_oauth_link",
            table: "imap_oauth_links",
            row: state_hash.to_owned(),
        }
    }

    /// The PKCE verifier of an OpenID Connect sign-in in progress, keyed by the hash of its
    /// `state` (the `oidc_logins` row).
    pub fn oidc_verifier(state_hash: &str) -> Self {
        Binding {
            purpose: "oidc_pkce_verifier",
            table: "oidc_logins",
            row: state_hash.to_owned(),
        }
    }

    /// The ID token of a session opened through an OpenID provider (the `oidc_sessions` row).
    pub fn oidc_id_token(session: i64) -> Self {
        Binding {
            purpose: "oidc_id_token",
            table: "oidc_sessions",
            row: session.to_string(),
        }
    }

    /// The associated data: the domain prefix, then purpose, table and row, each
    /// length-prefixed so no two bindings encode alike.
    pub(crate) fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(DOMAIN.len() + 24 + self.row.len() + 32);
        aad.extend_from_slice(DOMAIN);
        for part in [self.purpose, self.table, self.row.as_str()] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_rows_and_purposes_give_different_associated_data() {
        let a = Binding::secret(SecretKind::ImapPassword, SecretId(1));
        let b = Binding::secret(SecretKind::ImapPassword, SecretId(2));
        let c = Binding::secret(SecretKind::OauthTokens, SecretId(1));
        let d = Binding::pkce_verifier("1");
        let all = [&a, &b, &c, &d].map(Binding::associated_data);
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }
}
