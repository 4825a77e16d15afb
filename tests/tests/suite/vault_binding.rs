//! Sealed secrets are bound to their row and purpose: someone who can write to the database
//! but lacks the master key cannot move one user's sealed password into another row and have
//! the daemon open it there. Records from before the binding (version 1) are re-sealed once,
//! after which an old record copied into a row does not open either. Both stores.

use crate::api_support::{App, BACKENDS};

use aes::Aes256;
use anyhow::{Result, ensure};
use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use hmac::{KeyInit, Mac};
use mailsig_daemon::store::{LinkOrigin, SecretId, SecretKind, Store};
use mailsig_daemon::vault::upgrade::bind_unbound_records;
use mailsig_daemon::vault::{Binding, MasterKey, SealedSecret, Vault};
use secrecy::ExposeSecret;

fn opens(vault: &Vault, binding: &Binding, bytes: &[u8]) -> Option<String> {
    vault
        .open_string(binding, &SealedSecret::from_bytes(bytes.to_vec()))
        .ok()
        .map(|s| s.expose_secret().to_owned())
}

async fn sealed_of(store: &Store, id: SecretId) -> Result<Vec<u8>> {
    Ok(store.get_secret(id).await?.sealed)
}

/// Two users' IMAP passwords and an OAuth token set, each sealed for its row. A database
/// writer swaps the two passwords' records, and moves a password into the token row: none of
/// the moved records opens (each would have opened, to the other user's password, without
/// the binding). Swapped back, they open again.
#[tokio::test]
async fn a_sealed_secret_moved_to_another_row_does_not_open() -> Result<()> {
    for backend in BACKENDS {
        let app = App::new(backend).await?;
        let store = &app.store;
        let vault = Vault::new(MasterKey::generate()?);
        let alice = vault
            .store_new(store, SecretKind::ImapPassword, 1, b"alice-imap-password")
            .await?;
        let bob = vault
            .store_new(store, SecretKind::ImapPassword, 1, b"bob-imap-password")
            .await?;
        let tokens = vault
            .store_new(store, SecretKind::OauthTokens, 1, b"{\"refresh\":\"t\"}")
            .await?;
        let at = |id| Binding::secret(SecretKind::ImapPassword, id);
        let (alice_bytes, bob_bytes) =
            (sealed_of(store, alice).await?, sealed_of(store, bob).await?);
        ensure!(
            opens(&vault, &at(alice), &alice_bytes).as_deref() == Some("alice-imap-password"),
            "{backend:?}: a record does not open in its own row"
        );

        store.replace_secret(alice, &bob_bytes, 1).await?;
        store.replace_secret(bob, &alice_bytes, 1).await?;
        for (row, name) in [(alice, "alice"), (bob, "bob")] {
            let moved = sealed_of(store, row).await?;
            let opened = opens(&vault, &at(row), &moved);
            ensure!(
                opened.is_none(),
                "{backend:?}: {name}'s row opened a record sealed for another row: {opened:?}"
            );
        }
        store.replace_secret(tokens, &alice_bytes, 1).await?;
        let as_tokens = Binding::secret(SecretKind::OauthTokens, tokens);
        ensure!(
            opens(&vault, &as_tokens, &alice_bytes).is_none(),
            "{backend:?}: a password opened as an OAuth token set"
        );
        // The same record, once in a row of the other kind (kind column rewritten too).
        ensure!(
            opens(
                &vault,
                &Binding::secret(SecretKind::SmtpPassword, alice),
                &alice_bytes
            )
            .is_none(),
            "{backend:?}: a password opened for another purpose"
        );

        store.replace_secret(alice, &alice_bytes, 1).await?;
        store.replace_secret(bob, &bob_bytes, 1).await?;
        ensure!(
            opens(&vault, &at(bob), &sealed_of(store, bob).await?).as_deref()
                == Some("bob-imap-password"),
            "{backend:?}: a record moved back does not open"
        );
    }
    Ok(())
}

/// A record as the vault wrote it before bindings: version 1, PBKDF2-HMAC-SHA256 (2,000
/// iterations) giving an AES-256-CBC key and an HMAC-SHA256 key, the tag over the record alone.
fn version_1_record(master: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let salt: [u8; 16] = rand::random();
    let iv: [u8; 16] = rand::random();
    let iterations: u32 = 2_000;
    let mut okm = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(master, &salt, iterations, &mut okm);
    let mut enc_key = [0u8; 32];
    enc_key.copy_from_slice(&okm[..32]);
    let ciphertext = cbc::Encryptor::<Aes256>::new(&enc_key.into(), &iv.into())
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    let mut record = vec![1u8];
    record.extend_from_slice(&iterations.to_be_bytes());
    record.extend_from_slice(&salt);
    record.extend_from_slice(&iv);
    record.extend_from_slice(&ciphertext);
    let tag = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&okm[32..]).map(|mut mac| {
        mac.update(&record);
        mac.finalize().into_bytes().to_vec()
    });
    record.extend_from_slice(&tag.unwrap_or_default());
    record
}

/// An old store: unbound (version 1) records in `secrets` (a mailbox password, the named SMTP
/// password) and in `oauth_states` (a PKCE verifier). In service they do not open; the upgrade
/// the daemon runs at start re-seals each for its row, once. Afterwards a copy of an old record
/// put into another row does not open, and running the upgrade again does not bless it.
/// A record under another master key stops the upgrade without writing anything.
#[tokio::test]
async fn an_old_store_is_re_sealed_for_its_rows_once_and_old_records_then_stop_opening()
-> Result<()> {
    for backend in BACKENDS {
        let app = App::new(backend).await?;
        let store = &app.store;
        let key: [u8; 32] = rand::random();
        let vault = Vault::new(MasterKey::from_bytes(key));

        let old_imap = version_1_record(&key, b"old-imap-password");
        let imap = store
            .put_secret(SecretKind::ImapPassword, &old_imap, 1)
            .await?;
        let smtp = store
            .set_named_secret(
                "smtp",
                SecretKind::SmtpPassword,
                &version_1_record(&key, b"old-smtp-password"),
                1,
            )
            .await?;
        let spare = store
            .put_secret(
                SecretKind::ImapPassword,
                &version_1_record(&key, b"spare-password"),
                1,
            )
            .await?;
        let user = store.create_user("old@example.com", None).await?;
        let list = store.create_list(user.id, "Contacts").await?;
        store
            .put_oauth_state(
                "state-hash-1",
                user.id,
                list.id,
                LinkOrigin::Cli,
                &version_1_record(&key, b"old-verifier"),
                std::time::Duration::from_secs(600),
            )
            .await?;
        let imap_at = Binding::secret(SecretKind::ImapPassword, imap);
        ensure!(
            opens(&vault, &imap_at, &old_imap).is_none(),
            "{backend:?}: an unbound record opened in service"
        );
        ensure!(
            !store.vault_records_bound().await?,
            "{backend:?}: marked before the upgrade"
        );

        // The same store under a wrong key: nothing is re-sealed, nothing marked.
        let wrong = Vault::new(MasterKey::generate()?);
        let report = bind_unbound_records(store, &wrong).await?;
        ensure!(
            report.unopenable == 4 && report.bound == 0 && !report.already_done,
            "{backend:?}: {report:?}"
        );
        ensure!(
            !store.vault_records_bound().await? && sealed_of(store, imap).await? == old_imap,
            "{backend:?}: a failed upgrade wrote"
        );

        let report = bind_unbound_records(store, &vault).await?;
        ensure!(
            report.bound == 4 && report.unopenable == 0,
            "{backend:?}: {report:?}"
        );
        ensure!(
            store.vault_records_bound().await?,
            "{backend:?}: not marked"
        );
        for (id, kind, expected) in [
            (imap, SecretKind::ImapPassword, "old-imap-password"),
            (smtp, SecretKind::SmtpPassword, "old-smtp-password"),
            (spare, SecretKind::ImapPassword, "spare-password"),
        ] {
            let bytes = sealed_of(store, id).await?;
            ensure!(
                bytes.first() == Some(&2),
                "{backend:?}: {kind:?} not version 2"
            );
            let opened = opens(&vault, &Binding::secret(kind, id), &bytes);
            ensure!(
                opened.as_deref() == Some(expected),
                "{backend:?}: {kind:?} does not open after the upgrade"
            );
        }
        let pending = store.take_oauth_state("state-hash-1").await?;
        ensure!(
            opens(
                &vault,
                &Binding::pkce_verifier("state-hash-1"),
                &pending.verifier_sealed
            )
            .as_deref()
                == Some("old-verifier"),
            "{backend:?}: the PKCE verifier does not open after the upgrade"
        );

        // A writer keeps a copy of the old IMAP record and puts it into another row.
        store.replace_secret(spare, &old_imap, 1).await?;
        let report = bind_unbound_records(store, &vault).await?;
        ensure!(
            report.already_done && report.bound == 0,
            "{backend:?}: {report:?}"
        );
        let replayed = sealed_of(store, spare).await?;
        ensure!(
            replayed == old_imap
                && opens(
                    &vault,
                    &Binding::secret(SecretKind::ImapPassword, spare),
                    &replayed
                )
                .is_none(),
            "{backend:?}: an old record replayed into another row opened"
        );
    }
    Ok(())
}
