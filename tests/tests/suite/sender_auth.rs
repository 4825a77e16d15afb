//! Sender authentication end to end: messages DKIM-signed here with the keys of the test DNS zone
//! (NSD, started by `scripts/test-servers.sh`), submitted through the real Postfix into the real
//! Dovecot, read by the IMAP watcher, authenticated against NSD and committed by the policy of
//! `store::commit`:
//!
//! - a stranger forging an accepted contact's `From:` (unsigned, signed by another domain, or with
//!   a broken signature) changes nothing;
//! - a DKIM-valid message of the contact with a new title becomes one change suggestion and one
//!   alert, and the contact changes only when an editor accepts it;
//! - a domain without a DMARC record is authenticated by its own signature only;
//! - a DNS server that never answers leaves the sender `unknown` within the time bound;
//! - Exchange Online's `Authentication-Results` counts only for a mailbox that trusts it, and only
//!   above any hop outside the provider (a forged one below the sender's own MTA's `Received:`
//!   counts for nothing);
//! - a vCard that lists no e-mail address changes no accepted contact, even in the contact's own
//!   authenticated mail;
//! - every check is counted on `/metrics` (by result and method, cache hits, timeouts).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mailsig_daemon::config::Config;
use mailsig_daemon::domain::TlsMode;
use mailsig_daemon::domain::{AuthMethod, AuthResult, SenderAuth};
use mailsig_daemon::pipeline::{Pipeline, PipelineConfig};
use mailsig_daemon::sender_auth::{
    MICROSOFT_365, SenderAuthSettings, SenderAuthenticator, TrustedIds, stats,
};
use mailsig_daemon::sources::imap::{ImapOptions, ImapSource, StoreCheckpoints};
use mailsig_daemon::store::{
    ChangeStatus, ListId, MailboxId, SightingOutcome, Store, Suggestion, SuggestionFilter,
    SuggestionStatus,
};
use mailsig_tests::imap_support::{imap_mailbox, imap_settings};
use mailsig_tests::servers::{MailUser, SmtpSecurity, TestEnv};
use secrecy::SecretString;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Generous: delivery through Postfix and LMTP plus IDLE takes about a second.
const WAIT: Duration = Duration::from_secs(30);

/// The test DNS server and the private keys of its zone.
struct Dns {
    address: SocketAddr,
    keys: PathBuf,
}

impl Dns {
    fn from_env() -> Result<Dns> {
        let var = |name: &str| {
            std::env::var(name)
                .with_context(|| format!("{name} is not set: run scripts/test-servers.sh start"))
        };
        let port: u16 = var("MAILSIG_TEST_DNS_PORT")?
            .parse()
            .context("MAILSIG_TEST_DNS_PORT")?;
        Ok(Dns {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            keys: PathBuf::from(var("MAILSIG_TEST_DKIM_KEYS")?),
        })
    }

    /// An authenticator against the test zone whose own MTAs are the test Postfix
    /// (`mailsig-test.localhost`) and Dovecot (this machine's name), as an operator whose own
    /// servers stamp `Authentication-Results` would configure it.
    fn authenticator(&self) -> Result<Arc<SenderAuthenticator>> {
        let this_host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Ok(SenderAuthenticator::new(&SenderAuthSettings {
            resolver: Some(self.address),
            trusted_hosts: TrustedIds::new(["mailsig-test.localhost", this_host.trim()]),
            ..SenderAuthSettings::default()
        })?)
    }

    /// `raw` with a DKIM-Signature of `domain`/`selector` (From, To, Subject, Date, Message-ID)
    /// prepended.
    fn sign(&self, raw: &[u8], domain: &str, selector: &str) -> Result<Vec<u8>> {
        let pem = std::fs::read(self.keys.join(format!("{domain}.{selector}.pem")))
            .with_context(|| format!("read DKIM key {domain}.{selector}"))?;
        let key = rustls_pemfile::private_key(&mut pem.as_slice())?.context("no key in PEM")?;
        const SIGNED: [&str; 5] = ["From", "To", "Subject", "Date", "Message-ID"];
        let header = if selector.starts_with("ed") {
            let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(key.secret_der())
                .map_err(|e| anyhow::anyhow!("ed25519 key: {e}"))?;
            DkimSigner::from_key(key)
                .domain(domain)
                .selector(selector)
                .headers(SIGNED)
                .sign(raw)
                .map_err(|e| anyhow::anyhow!("sign: {e}"))?
                .to_header()
        } else {
            let key =
                RsaKey::<Sha256>::from_key_der(key).map_err(|e| anyhow::anyhow!("rsa key: {e}"))?;
            DkimSigner::from_key(key)
                .domain(domain)
                .selector(selector)
                .headers(SIGNED)
                .sign(raw)
                .map_err(|e| anyhow::anyhow!("sign: {e}"))?
                .to_header()
        };
        let mut signed = header.into_bytes();
        signed.extend_from_slice(raw);
        Ok(signed)
    }
}

/// A message from `address` whose signature names Jane Doe of Acme Corp with `title`.
fn jane_mail(address: &str, title: &str, phone: &str, id: &str, top: &str) -> Vec<u8> {
    format!(
        "{top}From: Jane Doe <{address}>\r\n\
         To: Owner <owner@mailsig-owner.test>\r\n\
         Subject: Quarterly figures\r\n\
         Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{id}@mail.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hi,\r\n\
         \r\n\
         The quarterly figures are attached. Let me know if anything looks wrong.\r\n\
         \r\n\
         Thanks,\r\n\
         Jane\r\n\
         \r\n\
         -- \r\n\
         Jane Doe\r\n\
         {title}\r\n\
         Acme Corp\r\n\
         48 Harbor View Drive\r\n\
         Annapolis, MD 21403\r\n\
         Office: {phone}\r\n\
         {address}\r\n"
    )
    .into_bytes()
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}.{nanos:x}")
}

/// A store, a list, one IMAP mailbox on the shared Dovecot watched by a pipeline that
/// authenticates senders against the test DNS, and a second mail user that submits through
/// Postfix.
struct Rig {
    _dir: TempDir,
    env: TestEnv,
    store: Store,
    list: ListId,
    mailbox: MailboxId,
    watched: MailUser,
    submitter: MailUser,
    source: Option<ImapSource>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Rig {
    async fn start(dns: &Dns, trusted: Option<&[&str]>) -> Result<Rig> {
        Rig::start_with(dns.authenticator()?, trusted).await
    }

    /// [`start`](Self::start) with the pipeline authenticating through `authenticator`.
    async fn start_with(
        authenticator: Arc<SenderAuthenticator>,
        trusted: Option<&[&str]>,
    ) -> Result<Rig> {
        let env = TestEnv::from_env()?;
        let watched = env.create_mail_user()?;
        let submitter = env.create_mail_user()?;
        let dir = tempfile::tempdir()?;
        let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
        store.migrate().await?;
        let owner = store
            .create_user("owner@mailsig-owner.test", Some("Owner"))
            .await?;
        let list = store.create_list(owner.id, "Contacts").await?;
        let settings = imap_settings(
            env.imap_port,
            TlsMode::StartTls,
            &watched.name,
            &env.ca,
            &[],
        );
        let mailbox = store
            .create_mailbox(imap_mailbox(
                owner.id,
                list.id,
                "owner@mailsig-owner.test",
                &settings,
            ))
            .await?;
        if let Some(ids) = trusted {
            let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
            store
                .set_mailbox_trusted_authserv_ids(mailbox.id, Some(&ids))
                .await?;
        }
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let pipeline = Pipeline::spawn(
            store.clone(),
            PipelineConfig {
                sender_auth: Some(authenticator),
                ..PipelineConfig::default()
            },
            &tracker,
            shutdown.clone(),
        );
        let source = ImapSource::new(
            ImapOptions {
                poll_interval: Duration::from_secs(1),
                ..ImapOptions::default()
            },
            pipeline.handle(),
            Arc::new(StoreCheckpoints::new(store.clone())),
            shutdown.child_token(),
        );
        source.add_mailbox(
            mailbox.id,
            settings,
            SecretString::from(watched.password.clone()),
        )?;
        let deadline = Instant::now() + WAIT;
        while source.stats().catch_ups < 1 {
            ensure!(Instant::now() < deadline, "the watcher did not link");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Rig {
            _dir: dir,
            env,
            store,
            list: list.id,
            mailbox: mailbox.id,
            watched,
            submitter,
            source: Some(source),
            tracker,
            shutdown,
        })
    }

    /// Submits `raw` through Postfix to the watched user and waits until the pipeline has
    /// committed one more message.
    async fn deliver(&self, raw: &[u8]) -> Result<()> {
        let before = self.counter("processed").await?;
        let to = format!("{}@mailsig-owner.test", self.watched.name);
        self.env
            .smtp()?
            .send_raw(&self.submitter, SmtpSecurity::Starttls, &to, raw)
            .await?;
        let deadline = Instant::now() + WAIT;
        while self.counter("processed").await? <= before {
            if Instant::now() > deadline {
                bail!("the message was not committed within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn counter(&self, name: &str) -> Result<i64> {
        let stats = self.store.mailbox_stats(self.mailbox).await?;
        Ok(stats.counters.get(name).copied().unwrap_or(0))
    }

    async fn suggestions(&self) -> Result<Vec<Suggestion>> {
        Ok(self
            .store
            .list_suggestions(self.list, &SuggestionFilter::default())
            .await?)
    }

    async fn only_suggestion(&self) -> Result<Suggestion> {
        let all = self.suggestions().await?;
        ensure!(
            all.len() == 1,
            "expected one suggestion, found {}",
            all.len()
        );
        all.into_iter().next().context("one suggestion")
    }

    async fn stop(mut self) {
        if let Some(source) = self.source.take() {
            source.shutdown(Duration::from_secs(10)).await;
        }
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
    }
}

const DMARC_PASS: SenderAuth = SenderAuth::new(AuthResult::Authenticated, AuthMethod::Dmarc);

fn title(s: &Suggestion) -> Option<&str> {
    s.fields.title.as_ref().map(|f| f.value.as_str())
}

#[tokio::test]
async fn forged_senders_change_nothing_and_a_real_change_waits_for_review() -> Result<()> {
    let dns = Dns::from_env()?;
    let rig = Rig::start(&dns, None).await?;
    let jane = "jane@example.test";

    // 1. Jane's own, DKIM-signed mail: a suggestion backed by an authenticated sender.
    let first = jane_mail(jane, "Sales Director", "(410) 555-0100", &unique("a"), "");
    rig.deliver(&dns.sign(&first, "example.test", "rsa2026")?)
        .await?;
    let contact = rig.only_suggestion().await?;
    ensure!(
        contact.sender_auth == DMARC_PASS,
        "{:?}",
        contact.sender_auth
    );
    ensure!(!contact.unverified_sender);
    ensure!(
        title(&contact) == Some("Sales Director"),
        "{:?}",
        title(&contact)
    );
    rig.store
        .set_suggestion_status(contact.id, SuggestionStatus::Accepted)
        .await?;
    let accepted = rig.store.get_suggestion(contact.id).await?;

    // 2. Forged From:, unsigned, with a rewritten signature.
    let forged = jane_mail(jane, "Chief Executive", "(202) 555-0199", &unique("b"), "");
    rig.deliver(&forged).await?;
    // 3. Forged From:, validly signed, but by another domain (DMARC not aligned).
    let other = jane_mail(jane, "Chief Executive", "(202) 555-0199", &unique("c"), "");
    rig.deliver(&dns.sign(&other, "attacker.test", "evil")?)
        .await?;
    // 4. Jane's signature, but the body changed after signing.
    let signed = dns.sign(
        &jane_mail(jane, "Sales Director", "(410) 555-0100", &unique("d"), ""),
        "example.test",
        "ed2026",
    )?;
    let broken = String::from_utf8(signed)?.replace("Sales Director", "Chief Executive");
    rig.deliver(broken.as_bytes()).await?;
    // 5. A stranger's own authenticated domain with Jane's name and company.
    let lookalike = jane_mail(
        "jane.doe@attacker.test",
        "Chief Executive",
        "(202) 555-0199",
        &unique("e"),
        "",
    );
    rig.deliver(&dns.sign(&lookalike, "attacker.test", "evil")?)
        .await?;

    ensure!(
        rig.counter("skipped:unverified_sender").await? == 3,
        "unsigned, other-domain and broken mail are each refused"
    );
    let now = rig.store.get_suggestion(contact.id).await?;
    ensure!(
        now.fields == accepted.fields,
        "the accepted contact changed"
    );
    ensure!(now.status == SuggestionStatus::Accepted);
    ensure!(
        rig.store
            .list_change_suggestions(rig.list, None)
            .await?
            .is_empty(),
        "no change suggestion from a forged sender"
    );
    // The lookalike is a new suggestion of its own address, not a change of Jane.
    let all = rig.suggestions().await?;
    ensure!(all.len() == 2, "found {}", all.len());
    let stranger = all
        .iter()
        .find(|s| s.sender_email == "jane.doe@attacker.test")
        .context("the lookalike's own suggestion")?;
    ensure!(stranger.status == SuggestionStatus::New);

    // 6. Jane's real change of title, DKIM-valid: one change suggestion and one alert.
    let promoted = jane_mail(jane, "VP Sales", "(410) 555-0100", &unique("f"), "");
    rig.deliver(&dns.sign(&promoted, "example.test", "rsa2026")?)
        .await?;
    ensure!(rig.counter("change_proposed").await? == 1);
    // Per-message provenance: Jane's two real messages, each with its own result; the three
    // refused ones stand behind nothing.
    let provenance = rig.store.provenance(contact.id).await?;
    ensure!(provenance.seen == 2, "seen {}", provenance.seen);
    let behind: Vec<_> = provenance
        .recent
        .iter()
        .map(|r| (r.outcome, r.sender_auth, r.mailbox))
        .collect();
    ensure!(
        behind
            == [
                (
                    SightingOutcome::ChangeProposed,
                    DMARC_PASS,
                    Some(rig.mailbox)
                ),
                (SightingOutcome::Created, DMARC_PASS, Some(rig.mailbox)),
            ],
        "{behind:?}"
    );
    let unchanged = rig.store.get_suggestion(contact.id).await?;
    ensure!(
        title(&unchanged) == Some("Sales Director"),
        "nothing accepted is overwritten before review"
    );
    let changes = rig.store.list_change_suggestions(rig.list, None).await?;
    ensure!(
        changes.len() == 1,
        "found {} change suggestions",
        changes.len()
    );
    let change = &changes[0];
    ensure!(change.sender_auth == DMARC_PASS);
    let title_diff = change
        .diff
        .iter()
        .find(|d| d.field == "title")
        .context("a title difference")?;
    ensure!(title_diff.old.as_deref() == Some("Sales Director"));
    ensure!(title_diff.new.as_deref() == Some("VP Sales"));
    let alerts = rig.store.change_alerts(rig.list).await?;
    ensure!(alerts.len() == 1);
    ensure!(
        alerts[0].alert_line().starts_with("Jane Doe: new title"),
        "{}",
        alerts[0].alert_line()
    );

    // The editor accepts it: the contact takes the new title, the old one stays in its history.
    let owner = rig.store.user_by_email("owner@mailsig-owner.test").await?;
    let decided = rig
        .store
        .decide_change_suggestion(change.id, true, owner.id)
        .await?;
    ensure!(decided.status == ChangeStatus::Accepted);
    let after = rig.store.get_suggestion(contact.id).await?;
    ensure!(title(&after) == Some("VP Sales"));
    let history = rig.store.suggestion_history(contact.id).await?;
    ensure!(history.iter().any(|h| h.field == "title"
        && h.old_value.as_deref() == Some("Sales Director")
        && h.new_value.as_deref() == Some("VP Sales")));

    // Alerts off for the list: none reported.
    rig.store.set_change_alerts(rig.list, false).await?;
    ensure!(rig.store.change_alerts(rig.list).await?.is_empty());
    rig.stop().await;
    Ok(())
}

#[tokio::test]
async fn without_dmarc_only_the_domains_own_signature_authenticates() -> Result<()> {
    let dns = Dns::from_env()?;
    let rig = Rig::start(&dns, None).await?;
    let bob = "bob@nodmarc.test";
    let mail = jane_mail(bob, "Engineer", "(410) 555-0111", &unique("g"), "");
    rig.deliver(&dns.sign(&mail, "nodmarc.test", "sel1")?)
        .await?;
    let s = rig.only_suggestion().await?;
    ensure!(
        s.sender_auth == SenderAuth::new(AuthResult::Authenticated, AuthMethod::Dkim),
        "{:?}",
        s.sender_auth
    );
    // Signed by another domain: no DMARC record lets it vouch for nodmarc.test.
    let authenticator = dns.authenticator()?;
    let other = dns.sign(
        &jane_mail(
            "carol@nodmarc.test",
            "Engineer",
            "(410) 555-0112",
            &unique("h"),
            "",
        ),
        "attacker.test",
        "evil",
    )?;
    let verdict = authenticator
        .authenticate(&other, &TrustedIds::default())
        .await;
    ensure!(
        verdict == SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dkim),
        "{verdict:?}"
    );
    rig.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_dns_server_that_never_answers_leaves_the_sender_unknown_in_bounded_time() -> Result<()> {
    let dns = Dns::from_env()?;
    // A UDP socket that reads nothing and answers nothing; TCP to the same port is refused.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let authenticator = SenderAuthenticator::new(&SenderAuthSettings {
        resolver: Some(silent.local_addr()?),
        timeout: Duration::from_secs(1),
        ..SenderAuthSettings::default()
    })?;
    let signed = dns.sign(
        &jane_mail(
            "jane@example.test",
            "Sales Director",
            "(410) 555-0100",
            &unique("i"),
            "",
        ),
        "example.test",
        "rsa2026",
    )?;
    let before = stats::snapshot();
    let verdict = authenticator
        .authenticate(&signed, &TrustedIds::default())
        .await;
    ensure!(verdict.result == AuthResult::Unknown, "{verdict:?}");
    // Counted as out of time or as a temporary DNS failure (whichever bound fired first).
    let after = stats::snapshot();
    ensure!(
        after.timeouts + after.dns_temporary_failures
            > before.timeouts + before.dns_temporary_failures,
        "{after:?}"
    );
    ensure!(after.outcome(verdict) == before.outcome(verdict) + 1);
    // The same message against the real zone passes: the timeout, not the message, decided.
    let real = dns.authenticator()?;
    let verdict = real.authenticate(&signed, &TrustedIds::default()).await;
    ensure!(verdict == DMARC_PASS, "{verdict:?}");
    // Again with a warm cache: the keys and the policy come from it.
    let warm = stats::snapshot();
    let verdict = real.authenticate(&signed, &TrustedIds::default()).await;
    ensure!(verdict == DMARC_PASS, "{verdict:?}");
    let hot = stats::snapshot();
    // At least the DKIM key and the DMARC record.
    ensure!(
        hot.cache_hits >= warm.cache_hits + 2,
        "{warm:?} then {hot:?}"
    );
    ensure!(hot.outcome(DMARC_PASS) == warm.outcome(DMARC_PASS) + 1);
    let text = stats::render_prometheus();
    let line = format!(
        "mailsig_sender_auth_checks_total{{result=\"authenticated\",method=\"dmarc\"}} {}",
        hot.outcome(DMARC_PASS)
    );
    ensure!(text.lines().any(|l| l == line), "{text}");
    ensure!(
        text.lines().any(|l| l
            == format!(
                "mailsig_sender_auth_dns_cache_lookups_total{{outcome=\"hit\"}} {}",
                hot.cache_hits
            )),
        "{text}"
    );
    Ok(())
}

/// End to end, with the resolver that `[sender_auth] resolver` names never answering: Jane's
/// DKIM-signed mail, delivered through the real Postfix into Dovecot and picked up by the
/// watcher, still becomes a suggestion, flagged unverified with an unknown result (in its
/// provenance too); the timeout is counted; and the watcher goes on to the next message.
#[tokio::test]
async fn a_resolver_that_never_answers_leaves_mail_unverified_and_the_watcher_going() -> Result<()>
{
    let dns = Dns::from_env()?;
    // A UDP socket that reads nothing and answers nothing; TCP to the same port is refused.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let text = format!(
        "[sender_auth]\nresolver = \"{}\"\ntimeout = \"1s\"\n",
        silent.local_addr()?
    );
    let config = Config::from_toml(
        &text,
        std::path::Path::new("mailsig.toml"),
        Vec::<(String, String)>::new(),
    )?;
    let rig = Rig::start_with(SenderAuthenticator::new(&config.sender_auth)?, None).await?;
    let before = stats::snapshot();
    let signed = dns.sign(
        &jane_mail(
            "jane@example.test",
            "Sales Director",
            "(410) 555-0100",
            &unique("t1"),
            "",
        ),
        "example.test",
        "rsa2026",
    )?;
    // Waits for the commit: the check ends within its bound instead of holding the mailbox.
    rig.deliver(&signed).await?;
    let jane = rig.only_suggestion().await?;
    ensure!(
        jane.sender_auth.result == AuthResult::Unknown,
        "{:?}",
        jane.sender_auth
    );
    ensure!(jane.unverified_sender);
    let provenance = rig.store.provenance(jane.id).await?;
    ensure!(
        provenance.last().map(|r| r.sender_auth.result) == Some(AuthResult::Unknown),
        "{provenance:?}"
    );
    let after = stats::snapshot();
    ensure!(
        after.timeouts + after.dns_temporary_failures
            > before.timeouts + before.dns_temporary_failures,
        "the timeout is counted: {after:?}"
    );
    ensure!(after.outcome(jane.sender_auth) > before.outcome(jane.sender_auth));

    // The watcher goes on: the next message is committed as well.
    let next = dns.sign(
        &jane_mail(
            "sam@example.test",
            "Buyer",
            "(410) 555-0101",
            &unique("t2"),
            "",
        ),
        "example.test",
        "rsa2026",
    )?;
    rig.deliver(&next).await?;
    let all = rig.suggestions().await?;
    ensure!(all.len() == 2, "found {}", all.len());
    ensure!(
        all.iter().all(|s| s.unverified_sender),
        "nothing authenticated without DNS"
    );
    rig.stop().await;
    Ok(())
}

/// Exchange Online's header (no authserv-id), as its protection stamps it.
const MICROSOFT_RESULTS: &str = "Authentication-Results: spf=pass (sender IP is 192.0.2.25)\r\n \
    smtp.mailfrom=example.test; dkim=pass (signature was verified)\r\n \
    header.d=example.test;dmarc=pass action=none header.from=example.test;compauth=pass\r\n \
    reason=100\r\n";

#[tokio::test]
async fn microsoft_authentication_results_count_only_where_trusted() -> Result<()> {
    let dns = Dns::from_env()?;
    // A mailbox that trusts Exchange Online: the unsigned message is authenticated by the header.
    let trusting = Rig::start(&dns, Some(&[MICROSOFT_365])).await?;
    let mail = jane_mail(
        "jane@example.test",
        "Sales Director",
        "(410) 555-0100",
        &unique("j"),
        MICROSOFT_RESULTS,
    );
    trusting.deliver(&mail).await?;
    let s = trusting.only_suggestion().await?;
    ensure!(
        s.sender_auth
            == SenderAuth::new(AuthResult::Authenticated, AuthMethod::AuthenticationResults),
        "{:?}",
        s.sender_auth
    );
    trusting.stop().await;

    // The same header below a hop outside the provider (the sender's own MTA wrote its
    // `Received:` above it, so the header was in the message before the provider saw it).
    let trusting = Rig::start(&dns, Some(&[MICROSOFT_365])).await?;
    let below_foreign_hop = format!(
        "Received: from laptop.attacker.test (laptop.attacker.test [192.0.2.77])\r\n \
         by mail.attacker.test with ESMTPSA id 4F2a; Sun, 06 Dec 2026 09:59:58 +0000\r\n\
         {MICROSOFT_RESULTS}"
    );
    let forged = jane_mail(
        "jane@example.test",
        "Sales Director",
        "(410) 555-0100",
        &unique("j2"),
        &below_foreign_hop,
    );
    trusting.deliver(&forged).await?;
    let s = trusting.only_suggestion().await?;
    ensure!(
        s.sender_auth.result == AuthResult::NotAuthenticated,
        "a results header below a foreign hop counted: {:?}",
        s.sender_auth
    );
    ensure!(s.unverified_sender);
    trusting.stop().await;

    // A mailbox that trusts nobody: the same header, written by the sender, counts for nothing.
    let plain = Rig::start(&dns, None).await?;
    plain.deliver(&mail).await?;
    let s = plain.only_suggestion().await?;
    ensure!(
        s.sender_auth.result == AuthResult::NotAuthenticated,
        "{:?}",
        s.sender_auth
    );
    ensure!(s.unverified_sender);
    plain.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_trusted_forwarders_arc_seal_vouches_for_mail_it_changed() -> Result<()> {
    use mail_auth::arc::ArcSealer;
    use mail_auth::dmarc::verify::DmarcParameters;
    use mail_auth::hickory_resolver::config::{
        ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
    };
    use mail_auth::{AuthenticatedMessage, AuthenticationResults, MessageAuthenticator, SpfOutput};

    let dns = Dns::from_env()?;
    let jane = "jane@example.test";
    let original = dns.sign(
        &jane_mail(jane, "Sales Director", "(410) 555-0100", &unique("k"), ""),
        "example.test",
        "rsa2026",
    )?;
    // The forwarder (a mailing list at nodmarc.test) verifies the message as it arrives ...
    let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
    udp.port = dns.address.port();
    tcp.port = dns.address.port();
    let server = NameServerConfig::new(dns.address.ip(), true, vec![udp, tcp]);
    let forwarder = MessageAuthenticator::new(
        ResolverConfig::from_name_servers(vec![server]),
        ResolverOpts::default(),
    )?;
    let arrived = AuthenticatedMessage::parse(&original).context("parse")?;
    let dkim = forwarder.verify_dkim(&arrived).await;
    let spf = SpfOutput::new("example.test".into());
    let dmarc = forwarder
        .verify_dmarc(DmarcParameters::new(&arrived, &dkim, "example.test", &spf))
        .await;
    let results = AuthenticationResults::new("lists.nodmarc.test")
        .with_dkim_results(&dkim, jane)
        .with_dmarc_result(&dmarc);
    // ... appends its footer (which breaks Jane's DKIM signature) and seals what it sends on.
    let mut changed = original.clone();
    changed.extend_from_slice(b"\r\n-- \r\nThe Example Partners list\r\n");
    let to_seal = AuthenticatedMessage::parse(&changed).context("parse")?;
    let chain = forwarder.verify_arc(&to_seal).await;
    let pem = std::fs::read(dns.keys.join("nodmarc.test.sel1.pem"))?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())?.context("no key")?;
    let key = RsaKey::<Sha256>::from_key_der(key).map_err(|e| anyhow::anyhow!("rsa key: {e}"))?;
    let set = ArcSealer::from_key(key)
        .domain("nodmarc.test")
        .selector("sel1")
        .headers([
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "DKIM-Signature",
        ])
        .seal(&to_seal, &results, &chain)
        .map_err(|e| anyhow::anyhow!("seal: {e}"))?;
    let forwarded = [set.to_header().into_bytes(), changed].concat();

    let authenticator = dns.authenticator()?;
    // Nobody trusts the list: the broken signature decides.
    let untrusted = authenticator
        .authenticate(&forwarded, &TrustedIds::default())
        .await;
    ensure!(
        untrusted == SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dmarc),
        "{untrusted:?}"
    );
    // The mailbox trusts the list's authserv-id: its seal vouches.
    let trusted = authenticator
        .authenticate(&forwarded, &TrustedIds::new(["lists.nodmarc.test"]))
        .await;
    ensure!(
        trusted == SenderAuth::new(AuthResult::Authenticated, AuthMethod::Arc),
        "{trusted:?}"
    );
    Ok(())
}

/// Jane's own, authenticated mail with no typed signature and an attached vCard that lists no
/// e-mail address (anyone's card, forwarded or forged): the card names nobody in particular, so
/// it neither proposes a change of the accepted contact nor changes it.
#[tokio::test]
async fn a_vcard_without_an_email_does_not_touch_an_accepted_contact() -> Result<()> {
    let dns = Dns::from_env()?;
    let rig = Rig::start(&dns, None).await?;
    let jane = "jane@example.test";
    let first = jane_mail(jane, "Sales Director", "(410) 555-0100", &unique("v1"), "");
    rig.deliver(&dns.sign(&first, "example.test", "rsa2026")?)
        .await?;
    let contact = rig.only_suggestion().await?;
    ensure!(
        contact.sender_auth == DMARC_PASS,
        "{:?}",
        contact.sender_auth
    );
    rig.store
        .set_suggestion_status(contact.id, SuggestionStatus::Accepted)
        .await?;
    let accepted = rig.store.get_suggestion(contact.id).await?;

    let card_mail = format!(
        "From: Jane Doe <{jane}>\r\n\
         To: Owner <owner@mailsig-owner.test>\r\n\
         Subject: a card\r\n\
         Date: Sun, 06 Dec 2026 11:00:00 +0000\r\n\
         Message-ID: <{}@mail.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"vc\"\r\n\
         \r\n\
         --vc\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         A card is attached.\r\n\
         \r\n\
         --vc\r\n\
         Content-Type: text/vcard; charset=utf-8; name=\"card.vcf\"\r\n\
         Content-Disposition: attachment; filename=\"card.vcf\"\r\n\
         \r\n\
         BEGIN:VCARD\r\n\
         VERSION:3.0\r\n\
         FN:Jane Doe\r\n\
         N:Doe;Jane;;;\r\n\
         ORG:Acme Corp\r\n\
         TITLE:Chief Executive\r\n\
         TEL;TYPE=CELL:+1 (202) 555-0199\r\n\
         END:VCARD\r\n\
         --vc--\r\n",
        unique("v2")
    );
    rig.deliver(&dns.sign(card_mail.as_bytes(), "example.test", "rsa2026")?)
        .await?;
    ensure!(
        rig.store
            .list_change_suggestions(rig.list, None)
            .await?
            .is_empty(),
        "a card without an e-mail proposed a change"
    );
    ensure!(rig.counter("change_proposed").await? == 0);
    let now = rig.store.get_suggestion(contact.id).await?;
    ensure!(
        now.fields == accepted.fields,
        "the accepted contact changed"
    );
    ensure!(rig.suggestions().await?.len() == 1);
    rig.stop().await;
    Ok(())
}

/// Bytes of every file under `dir` that contain `needle` (by path).
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Result<Vec<String>> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle)?);
        } else {
            let bytes = match std::fs::read(&path) {
                // A WAL or journal file the closing store removed meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                other => other?,
            };
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    Ok(hits)
}

/// The privacy canary for sender authentication: a trusted results header whose comment carries
/// a canary, an untrusted one whose authserv-id and hop are the canary, and a DKIM signature whose
/// selector is the canary (its look-up fails) go through the real Postfix, Dovecot, NSD and the
/// pipeline. The verdicts are stored, but no byte of the canary reaches the data dir or the log
/// (as the daemon writes it: every level, through its log policy).
#[tokio::test]
async fn no_header_text_of_the_check_is_stored_or_logged() -> Result<()> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let logs = mailsig_tests::log_capture::LogBuffer::default();
    let writer = logs.clone();
    // The daemon's own output: every level, through its log policy (dependencies such as the
    // IMAP client and the resolver log raw text at TRACE and DEBUG; the policy keeps them out of
    // every log line). Each test runs in its own process: the global subscriber sees every thread.
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_filter(mailsig_daemon::telemetry::policy::LogPolicy);
    if tracing_subscriber::registry()
        .with(output)
        .try_init()
        .is_err()
    {
        bail!("a global subscriber was already installed: the capture would see nothing");
    }
    let canary = format!("canary{:016x}", rand::random::<u64>());
    let dns = Dns::from_env()?;
    let rig = Rig::start(&dns, Some(&[MICROSOFT_365])).await?;
    let trusted = MICROSOFT_RESULTS.replace("signature was verified", &canary);
    rig.deliver(&jane_mail(
        "jane@example.test",
        "Sales Director",
        "(410) 555-0100",
        &unique("p1"),
        &trusted,
    ))
    .await?;
    let untrusted = format!(
        "Received: from a by mx.{canary}.attacker.test with ESMTP\r\n\
         Authentication-Results: {canary}.attacker.test; dmarc=pass header.from=nodmarc.test\r\n"
    );
    rig.deliver(&jane_mail(
        "bob@nodmarc.test",
        "Engineer",
        "(410) 555-0111",
        &unique("p2"),
        &untrusted,
    ))
    .await?;
    let signed = dns.sign(
        &jane_mail(
            "carol@example.test",
            "Buyer",
            "(410) 555-0112",
            &unique("p3"),
            "",
        ),
        "example.test",
        "rsa2026",
    )?;
    let renamed = String::from_utf8(signed)?.replacen("s=rsa2026", &format!("s={canary}"), 1);
    rig.deliver(renamed.as_bytes()).await?;

    let all = rig.suggestions().await?;
    ensure!(all.len() == 3, "found {}", all.len());
    let auth_of = |sender: &str| {
        all.iter()
            .find(|s| s.sender_email == sender)
            .map(|s| s.sender_auth)
    };
    ensure!(
        auth_of("jane@example.test")
            == Some(SenderAuth::new(
                AuthResult::Authenticated,
                AuthMethod::AuthenticationResults
            ))
    );
    ensure!(auth_of("bob@nodmarc.test").is_some_and(|a| !a.is_authenticated()));
    ensure!(auth_of("carol@example.test").is_some_and(|a| !a.is_authenticated()));
    // The data dir while the store is open (its WAL included).
    let dir = rig._dir.path().to_owned();
    let hits = files_containing(&dir, canary.as_bytes())?;
    ensure!(hits.is_empty(), "the canary is in {hits:?}");
    ensure!(
        !files_containing(&dir, b"Sales Director")?.is_empty(),
        "the suggestion is not in the data dir, so the search proves nothing"
    );
    rig.stop().await;
    let text = logs.contents();
    ensure!(!text.is_empty(), "the log capture saw nothing");
    let leaks: Vec<&str> = text.lines().filter(|l| l.contains(&canary)).collect();
    ensure!(leaks.is_empty(), "the canary is in the log: {leaks:#?}");
    Ok(())
}
