//! Start-up figure for the vault: how long opening 10,000 sealed secrets takes, on one thread
//! and on every core. Each record needs its own PBKDF2 derivation, so this is the vault's
//! share of daemon start-up with 10,000 mailboxes.
//!
//! ```sh
//! cargo run --release -p mailsig-daemon --example vault_startup [-- N]
//! ```

use std::time::Instant;

use mailsig_daemon::store::{SecretId, SecretKind};
use mailsig_daemon::vault::{Binding, MasterKey, SealedSecret, Vault};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let vault = Vault::new(MasterKey::generate()?);

    let started = Instant::now();
    // Each record bound to its own row, as in the store.
    let binding = |i: usize| Binding::secret(SecretKind::ImapPassword, SecretId(i as i64 + 1));
    let records: Vec<(Binding, SealedSecret)> = (0..n)
        .map(|i| {
            let sealed = vault.seal(&binding(i), format!("imap-password-{i:05}").as_bytes());
            sealed.map(|s| (binding(i), s))
        })
        .collect::<Result<_, _>>()?;
    println!("seal {n} records: {:.2?}", started.elapsed());

    let started = Instant::now();
    for (binding, record) in &records {
        vault.open(binding, record)?;
    }
    let one = started.elapsed();
    println!(
        "open {n} records on 1 thread: {one:.2?} ({:.3} ms per record)",
        one.as_secs_f64() * 1000.0 / n as f64
    );

    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let started = Instant::now();
    let failures: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(n.div_ceil(threads).max(1))
            .map(|chunk| {
                scope.spawn(|| {
                    chunk
                        .iter()
                        .filter(|(b, r)| vault.open(b, r).is_err())
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(usize::MAX))
            .sum()
    });
    if failures != 0 {
        return Err(format!("{failures} records did not open").into());
    }
    println!(
        "open {n} records on {threads} threads: {:.2?}",
        started.elapsed()
    );
    Ok(())
}
