//! The one-time upgrade from unbound records (version 1) to records bound to their purpose
//! and row (version 2).
//!
//! Re-sealing needs the master key, so it cannot be a SQL migration: every process that opens
//! secrets (the daemon at start, `secrets rotate`, `smtp test`) runs [`bind_unbound_records`]
//! first. It opens each unbound record with the current key, seals it again for its row, and
//! writes all of them in one transaction together with the `vault_format` row that says the
//! upgrade is done. From then on an unbound record never opens, so an old record copied into
//! another row is refused like any damaged record.
//!
//! A record that does not open with this key (a wrong key file) is not re-sealed, and the
//! upgrade is then not recorded as done: it runs again at the next start, when the right key
//! may be in place. The records that did open are not written either, so one wrong key cannot
//! leave the store half bound.

use super::{Binding, SealedSecret, Vault};
use crate::store::{ResealedRecord, Store};

/// What one run of the upgrade did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpgradeReport {
    /// Records re-sealed under their binding.
    pub bound: usize,
    /// Unbound records that did not open with this master key (nothing was written).
    pub unopenable: usize,
    /// The store was already upgraded (by this or another process).
    pub already_done: bool,
}

/// Re-seals every unbound record under its binding, once per database. Store failures are
/// returned; records that do not open are counted, not fatal (see the module documentation).
pub async fn bind_unbound_records(
    store: &Store,
    vault: &Vault,
) -> Result<UpgradeReport, crate::store::Error> {
    if store.vault_records_bound().await? {
        return Ok(UpgradeReport {
            already_done: true,
            ..UpgradeReport::default()
        });
    }
    let mut report = UpgradeReport::default();
    let mut secrets = Vec::new();
    for stored in store.all_secrets().await? {
        let binding = Binding::secret(stored.kind, stored.id);
        match rebind(vault, &binding, &stored.sealed) {
            Rebound::Bound(sealed) => secrets.push(ResealedRecord {
                row: stored.id,
                was: stored.sealed,
                sealed,
            }),
            Rebound::AlreadyBound => {}
            Rebound::Unopenable => report.unopenable += 1,
        }
    }
    let mut states = Vec::new();
    for (state_hash, was) in store.oauth_state_records().await? {
        match rebind(vault, &Binding::pkce_verifier(&state_hash), &was) {
            Rebound::Bound(sealed) => states.push(ResealedRecord {
                row: state_hash,
                was,
                sealed,
            }),
            Rebound::AlreadyBound => {}
            Rebound::Unopenable => report.unopenable += 1,
        }
    }
    if report.unopenable > 0 {
        tracing::warn!(
            unopenable = report.unopenable,
            "stored secrets not re-sealed for their rows: some do not open with this master key (wrong key file?); trying again at the next start"
        );
        return Ok(report);
    }
    let bound = secrets.len() + states.len();
    if store.finish_vault_binding(secrets, states).await? {
        report.bound = bound;
        tracing::info!(records = bound, "stored secrets re-sealed for their rows");
    } else {
        report.already_done = true;
    }
    Ok(report)
}

enum Rebound {
    Bound(Vec<u8>),
    AlreadyBound,
    Unopenable,
}

fn rebind(vault: &Vault, binding: &Binding, bytes: &[u8]) -> Rebound {
    let sealed = SealedSecret::from_bytes(bytes.to_vec());
    if !sealed.is_unbound() {
        return Rebound::AlreadyBound;
    }
    let resealed = vault
        .open_unbound(&sealed)
        .and_then(|plaintext| vault.seal(binding, &plaintext));
    match resealed {
        Ok(sealed) => Rebound::Bound(sealed.into_bytes()),
        Err(_) => Rebound::Unopenable,
    }
}
