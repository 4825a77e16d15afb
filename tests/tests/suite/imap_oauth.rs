//! IMAP mailboxes, and the notifier's technical user, that sign in with OAuth 2.0, end to end with
//! the real `mailsigd` binary, the real Dovecot (its `oauth2` passdb validates each bearer token by
//! introspection, for IMAP and for Postfix's SASL) and the test OpenID provider: `mailbox
//! link-imap-oauth` and `smtp sign-in` run the code flow with PKCE on a loopback redirect while
//! the test signs in at the provider's forms; the daemon then reads the mailbox, or sends, with
//! the stored tokens. Access tokens here live 5 s (`short_ttl`), so every login after that needs
//! a refresh; a revoked grant makes the mailbox "needs re-consent" with one notice.

use crate::ops_support::mailsigd_bin;
use crate::pipeline_support::{signed_mail, unique_id};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_tests::oidc::{OidcProvider, sign_in};
use mailsig_tests::servers::{MailUser, TestEnv, free_port};

const WAIT: Duration = Duration::from_secs(90);
const OWNER: &str = "olga@example.com";

/// A configured daemon directory: config, master key, database, and the daemon once started.
struct Rig {
    dir: tempfile::TempDir,
    config: PathBuf,
    daemon: Option<Child>,
}

impl Rig {
    fn new(provider: &OidcProvider) -> Result<Rig> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("mailsig.toml");
        let rig = Rig {
            config: config.clone(),
            dir,
            daemon: None,
        };
        rig.cli(&["init"])?;
        let secret = rig.dir.path().join("oidc-client-secret");
        std::fs::write(&secret, format!("{}\n", provider.client_secret))?;
        let port = free_port()?;
        let mut text = std::fs::read_to_string(&config)?;
        text.push_str(&format!(
            "\n[oauth.providers.test]\nprofile = \"generic\"\nclient_id = \"{}\"\n\
             client_secret_file = \"{}\"\nauthorization_url = \"{}\"\ntoken_url = \"{}\"\n\
             scopes = [\"openid\", \"offline_access\", \"short_ttl\"]\n",
            provider.client_id,
            secret.display(),
            provider.authorization_url(),
            provider.token_url(),
        ));
        std::fs::write(&config, text)?;
        std::fs::write(rig.dir.path().join("http-port"), port.to_string())?;
        rig.cli(&["user", "add", OWNER])?;
        rig.cli(&["list", "add", "--owner", OWNER, "Contacts"])?;
        Ok(rig)
    }

    fn command(&self) -> Result<Command> {
        let port = std::fs::read_to_string(self.dir.path().join("http-port")).unwrap_or_default();
        let mut command = Command::new(mailsigd_bin()?);
        command
            .arg("-c")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("MAILSIG_CONFIG");
        if !port.is_empty() {
            command.env("MAILSIG_HTTP_LISTEN", format!("127.0.0.1:{port}"));
        }
        Ok(command)
    }

    /// Points `[smtp]` at the test Postfix, logging in as `user` with its delegated grant at the
    /// test provider (`smtp sign-in` stores it).
    fn configure_smtp(&self, env: &TestEnv, user: &MailUser) -> Result<()> {
        // `init` wrote an `[smtp]` table of commented keys: the keys go right below its header.
        let text = std::fs::read_to_string(&self.config)?;
        let smtp = format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nusername = \"{}\"\n\
             from = \"{}\"\nca_file = \"{}\"\nauth = \"oauth2_user\"\noauth_provider = \"test\"\n",
            env.smtp_port,
            user.name,
            user.address,
            env.ca.display(),
        );
        ensure!(text.matches("\n[smtp]\n").count() == 1, "no [smtp] table");
        std::fs::write(
            &self.config,
            text.replacen("\n[smtp]\n", &format!("\n{smtp}"), 1),
        )?;
        Ok(())
    }

    /// Runs one CLI command that must fail; what it printed (stdout and stderr).
    fn cli_fails(&self, args: &[&str]) -> Result<String> {
        let out = self.command()?.args(args).output()?;
        ensure!(!out.status.success(), "mailsigd {args:?} succeeded");
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// Runs one CLI command to its end; its stdout.
    fn cli(&self, args: &[&str]) -> Result<String> {
        let out = self.command()?.args(args).output()?;
        ensure!(
            out.status.success(),
            "mailsigd {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `mailbox link-imap-oauth` for `user`, signing in at the provider as the user (the login
    /// name is the Dovecot user the token is introspected for).
    async fn link(&self, env: &TestEnv, user: &MailUser) -> Result<String> {
        let imaps = env.imaps_port.to_string();
        let ca = env.ca.display().to_string();
        let rest = self
            .sign_in(
                &[
                    "mailbox",
                    "link-imap-oauth",
                    "--owner",
                    OWNER,
                    "--list",
                    "Contacts",
                    "--provider",
                    "test",
                    "--host",
                    "localhost",
                    "--port",
                    &imaps,
                    "--username",
                    &user.name,
                    "--address",
                    &user.address,
                    "--ca-file",
                    &ca,
                    // The message already in the INBOX is read too (a watcher starts after UIDNEXT).
                    "--backfill",
                    "10",
                ],
                user,
            )
            .await?;
        let row = rest
            .iter()
            .find(|l| l.ends_with(&user.address))
            .with_context(|| format!("no mailbox row in {rest:?}"))?;
        Ok(row.split('\t').next().unwrap_or_default().to_owned())
    }

    /// Runs the command `args`, which prints an authorization URL, signs in there as `user` and
    /// follows the provider's redirect back to the command; the lines it printed after the URL.
    async fn sign_in(&self, args: &[&str], user: &MailUser) -> Result<Vec<String>> {
        let mut child = self
            .command()?
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let url = loop {
            let line = lines_rx
                .recv_timeout(Duration::from_secs(60))
                .with_context(|| format!("{args:?} printed no URL"))?;
            if line.starts_with("http") {
                break line;
            }
        };
        let redirect = sign_in(&url, &user.name).await?;
        ensure!(
            redirect.host_str() == Some("127.0.0.1") && redirect.path() == "/callback",
            "{redirect}"
        );
        // The browser's last step: back to the command's loopback listener.
        let answer = reqwest::get(redirect.clone()).await?;
        ensure!(answer.status().is_success(), "{}", answer.status());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        let rest: Vec<String> = lines_rx.iter().collect();
        ensure!(
            out.status.success(),
            "{args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(rest)
    }

    fn start(&mut self) -> Result<()> {
        self.start_logging("info")
    }

    /// Starts the daemon with `RUST_LOG` set to `directive`.
    fn start_logging(&mut self, directive: &str) -> Result<()> {
        let log = std::fs::File::create(self.dir.path().join("mailsigd.log"))?;
        let child = self
            .command()?
            .arg("run")
            .env("RUST_LOG", directive)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.daemon = Some(child);
        Ok(())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mailsigd.log")).unwrap_or_default()
    }

    /// Waits until `mailsigd suggestion list` shows `name`.
    async fn wait_for_suggestion(&self, name: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let list = self.cli(&["suggestion", "list", "--user", OWNER])?;
            if list.contains(name) {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "no suggestion {name:?} within {WAIT:?}:\n{list}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits until `mailsigd mailbox list` shows the mailbox with `status`.
    async fn wait_for_status(&self, mailbox: &str, status: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let list = self.cli(&["mailbox", "list"])?;
            if list.lines().any(|l| {
                l.starts_with(&format!("{mailbox}\t")) && l.contains(&format!("\t{status}\t"))
            }) {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "mailbox {mailbox} not {status} within {WAIT:?}:\n{list}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The SQLite database `init` made.
    fn database(&self) -> Result<PathBuf> {
        find_file(self.dir.path(), "mailsig.db", 3).context("no mailsig.db under the rig")
    }
}

impl Rig {
    /// SIGTERM, then waits for the daemon to exit.
    fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.daemon.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            let status = child.wait()?;
            ensure!(status.success(), "mailsigd exited with {status}");
        }
        Ok(())
    }

    /// The access and refresh tokens of every OAuth grant in the store, opened with the
    /// master key, as the daemon opens them.
    async fn stored_tokens(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .stored_grants()
            .await?
            .into_iter()
            .map(|(access, refresh, _)| (access, refresh))
            .collect())
    }

    /// As [`Rig::stored_tokens`], with the time (epoch ms) until which the access token is used.
    async fn stored_grants(&self) -> Result<Vec<(String, String, i64)>> {
        use mailsig_daemon::sources::oauth::tokens::BearerTokens;
        use mailsig_daemon::store::SecretId;
        use mailsig_daemon::vault::{MasterKey, SealedSecret, Vault};
        use secrecy::ExposeSecret as _;
        let key_file = find_file(self.dir.path(), "master.key", 3).context("no master.key")?;
        let (key, _) = MasterKey::load_from(None, &key_file)?;
        let vault = Vault::new(key);
        let url = format!("sqlite://{}?mode=ro", self.database()?.display());
        let pool = sqlx::SqlitePool::connect(&url).await?;
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, sealed FROM secrets WHERE kind = 'oauth_tokens'")
                .fetch_all(&pool)
                .await?;
        pool.close().await;
        rows.into_iter()
            .map(|(id, sealed)| {
                let tokens =
                    BearerTokens::open(&vault, SecretId(id), &SealedSecret::from_bytes(sealed))
                        .map_err(|e| anyhow::anyhow!("open the stored tokens: {e}"))?;
                Ok((
                    tokens.access_token.expose_secret().to_owned(),
                    tokens.refresh_token.expose_secret().to_owned(),
                    tokens.expires_at,
                ))
            })
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

fn find_file(dir: &Path, name: &str, depth: u32) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if depth > 0
            && path.is_dir()
            && let Some(found) = find_file(&path, name, depth - 1)
        {
            return Some(found);
        }
    }
    None
}

/// Ends the user's IMAP sessions at Dovecot, as a server does when a token expires.
fn kick(env: &TestEnv, user: &MailUser) -> Result<()> {
    let conf = env.dir.join("dovecot/dovecot.conf");
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .args(["kick", &user.name])
        .output()?;
    ensure!(
        out.status.success() || out.status.code() == Some(68),
        "doveadm kick: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Successful bearer-token logins of `user` in Dovecot's log.
fn oauth_logins(env: &TestEnv, user: &MailUser) -> Result<usize> {
    let log = std::fs::read_to_string(env.dir.join("dovecot/dovecot.log"))?;
    let needle = format!("Login: user=<{}>, method=OAUTHBEARER", user.name);
    Ok(log.lines().filter(|l| l.contains(&needle)).count())
}

async fn count_notices(rig: &Rig) -> Result<i64> {
    let url = format!("sqlite://{}?mode=ro", rig.database()?.display());
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE kind = 'mailbox_attention'")
            .fetch_one(&pool)
            .await?;
    pool.close().await;
    Ok(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_linked_by_oauth_keeps_working_across_token_expiry() -> Result<()> {
    let env = TestEnv::from_env()?;
    let provider = OidcProvider::from_env()?;
    let user = env.create_mail_user()?;
    let mut rig = Rig::new(&provider)?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail("Ines Ortega", "ines", "oauth.example", &unique_id("oauth1")),
        )
        .await?;
    let mailbox = rig.link(&env, &user).await?;
    rig.start()?;
    rig.wait_for_suggestion("Ines Ortega").await?;
    let logins_before = oauth_logins(&env, &user)?;
    ensure!(logins_before >= 1, "no OAUTHBEARER login in Dovecot's log");

    // The access token the daemon holds lives 5 s: wait until the provider no longer takes it,
    // then drop the session and deliver while the watcher reconnects. Reconnecting needs a
    // refresh: a login with the old token would fail.
    let tokens = rig.stored_tokens().await?;
    let (access_token, _) = tokens.first().context("no stored grant")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while provider.token_is_active(access_token).await? {
        ensure!(
            std::time::Instant::now() < deadline,
            "the provider still takes the first access token"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    kick(&env, &user)?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail(
                "Jonas Pereira",
                "jonas",
                "oauth.example",
                &unique_id("oauth2"),
            ),
        )
        .await?;
    rig.wait_for_suggestion("Jonas Pereira").await?;
    ensure!(
        oauth_logins(&env, &user)? > logins_before,
        "the second message came without a new login"
    );
    rig.wait_for_status(&mailbox, "ok").await?;
    ensure!(
        count_notices(&rig).await? == 0,
        "a notice for a healthy mailbox"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_asks_for_re_consent_once() -> Result<()> {
    let env = TestEnv::from_env()?;
    let provider = OidcProvider::from_env()?;
    let user = env.create_mail_user()?;
    let mut rig = Rig::new(&provider)?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail(
                "Karla Nunes",
                "karla",
                "oauth.example",
                &unique_id("oauth3"),
            ),
        )
        .await?;
    let mailbox = rig.link(&env, &user).await?;
    rig.start()?;
    rig.wait_for_suggestion("Karla Nunes").await?;

    let revoked = provider.revoke_grants(&user.name).await?;
    ensure!(revoked >= 1, "the provider knew no grant of {}", user.name);
    kick(&env, &user)?;
    rig.wait_for_status(&mailbox, "needs_reconsent").await?;
    // One notice, however many reconnections or folders saw the failure.
    ensure!(count_notices(&rig).await? == 1);
    let log = rig.log();
    ensure!(
        !log.contains(&provider.client_secret),
        "the client secret reached the log"
    );
    if log.contains("panicked") {
        bail!("the daemon panicked:\n{log}");
    }
    Ok(())
}

/// Waits until the one stored grant's access token is past the time it is used until, so the
/// next login must refresh it.
async fn wait_until_the_stored_token_is_due(rig: &Rig) -> Result<()> {
    let grants = rig.stored_grants().await?;
    let (_, _, expires_at) = grants.first().context("no stored grant")?;
    let deadline = Instant::now() + WAIT;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        if now > u128::try_from(*expires_at).unwrap_or(0) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "the stored token never fell due");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The notifier's technical user signs in once with `smtp sign-in`; a test message then goes out
/// over SMTP with XOAUTH2 (Postfix asks Dovecot, which introspects the token) and is read back
/// over IMAP; after the access token fell due the next login refreshes it and stores the new
/// set; a revoked grant fails at the token step, and no secret is printed on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_signs_in_as_the_technical_user_and_sends_with_refreshed_tokens() -> Result<()>
{
    let env = TestEnv::from_env()?;
    let provider = OidcProvider::from_env()?;
    let technical = env.create_mail_user()?;
    let recipient = env.create_mail_user()?;
    let rig = Rig::new(&provider)?;
    rig.configure_smtp(&env, &technical)?;
    let before = rig.cli_fails(&["smtp", "test"])?;
    ensure!(before.contains("smtp sign-in"), "{before}");

    let printed = rig.sign_in(&["smtp", "sign-in"], &technical).await?;
    ensure!(
        printed
            .iter()
            .any(|l| l.starts_with("ok: ") && l.contains("XOAUTH2")),
        "{printed:?}"
    );
    let first = rig.stored_tokens().await?;
    ensure!(first.len() == 1, "{} grants stored", first.len());

    rig.cli(&["smtp", "test", "--send-to", &recipient.address])?;
    let delivered = env
        .imap()
        .wait_for_messages(&recipient, "INBOX", 1, WAIT)
        .await?;
    let raw = String::from_utf8_lossy(&delivered[0].raw).into_owned();
    ensure!(raw.contains("ESMTPSA"), "not submitted with AUTH:\n{raw}");

    wait_until_the_stored_token_is_due(&rig).await?;
    rig.cli(&["smtp", "test", "--send-to", &recipient.address])?;
    env.imap()
        .wait_for_messages(&recipient, "INBOX", 2, WAIT)
        .await?;
    let second = rig.stored_tokens().await?;
    ensure!(second.len() == 1, "{} grants stored", second.len());
    ensure!(
        second[0].0 != first[0].0,
        "the refreshed access token was not stored"
    );

    let revoked = provider.revoke_grants(&technical.name).await?;
    ensure!(
        revoked >= 1,
        "the provider knew no grant of {}",
        technical.name
    );
    wait_until_the_stored_token_is_due(&rig).await?;
    let refused = rig.cli_fails(&["smtp", "test"])?;
    ensure!(refused.contains("token"), "{refused}");
    for (access, refresh) in first.iter().chain(&second) {
        ensure!(
            !refused.contains(access.as_str()) && !refused.contains(refresh.as_str()),
            "a token was printed"
        );
    }
    ensure!(
        !refused.contains(&provider.client_secret),
        "the client secret was printed"
    );
    Ok(())
}

/// The OAuth grant of an IMAP mailbox is a canary: its refresh and access tokens, opened from the
/// vault with the master key after the daemon read the mailbox at `RUST_LOG=trace`, are in no
/// file of the data directory (database, WAL, SHM) and in no log line. The mailbox's address is
/// found in the database and the pipeline's TRACE line in the log, so the searches work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imap_oauth_grant_is_at_rest_only_sealed_and_never_logged() -> Result<()> {
    let env = TestEnv::from_env()?;
    let provider = OidcProvider::from_env()?;
    let user = env.create_mail_user()?;
    let mut rig = Rig::new(&provider)?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail(
                "Nora Quist",
                "nora",
                "oauth.example",
                &unique_id("oauth-canary"),
            ),
        )
        .await?;
    rig.link(&env, &user).await?;
    rig.start_logging("trace")?;
    rig.wait_for_suggestion("Nora Quist").await?;
    rig.stop()?;

    let tokens = rig.stored_tokens().await?;
    ensure!(tokens.len() == 1, "{} stored grants", tokens.len());
    let (access, refresh) = &tokens[0];
    ensure!(
        !access.is_empty() && !refresh.is_empty(),
        "an empty token: the search proves nothing"
    );
    let data_dir = rig.database()?.parent().context("data dir")?.to_path_buf();
    let mut surfaces = Vec::new();
    crate::privacy_matrix::files_under(&data_dir, "data dir", &mut surfaces)?;
    ensure!(
        surfaces.iter().any(|s| s.contains(&user.address)),
        "no stored file holds the mailbox: the search proves nothing"
    );
    let log = rig.log();
    ensure!(
        log.lines()
            .any(|l| l.contains("TRACE") && l.contains("message extracted")),
        "the trace level was not in force on the message path:\n{log}"
    );
    surfaces.push(crate::privacy_matrix::Surface::new(
        "log (text, RUST_LOG=trace)",
        log.into_bytes(),
    ));
    let mut hits = Vec::new();
    for (what, token) in [("access token", access), ("refresh token", refresh)] {
        for surface in &surfaces {
            if surface.contains(token) {
                hits.push(format!("{what} in {}", surface.name));
            }
        }
    }
    eprintln!(
        "canary matrix (IMAP OAuth): 2 canaries x {} surfaces, {} hits",
        surfaces.len(),
        hits.len()
    );
    ensure!(
        hits.is_empty(),
        "OAuth tokens outside the vault:\n{}",
        hits.join("\n")
    );
    Ok(())
}

/// The daemon's pages and API with the test provider as a mail OAuth provider named `corp`,
/// its callback on `port`.
fn mail_oauth_api(
    provider: &OidcProvider,
    port: u16,
) -> Result<mailsig_daemon::http::app::ApiSettings> {
    use mailsig_daemon::service::imap_oauth::MailOAuthLinking;
    use mailsig_daemon::sources::oauth::{ClientAuth, OAuthProfile, OAuthProvider, OAuthProviders};
    let corp = OAuthProvider {
        name: "corp".to_owned(),
        profile: OAuthProfile::Generic,
        client_id: provider.client_id.clone(),
        client_secret: secrecy::SecretString::from(provider.client_secret.clone()),
        client_auth: ClientAuth::Basic,
        authorization_url: url::Url::parse(&provider.authorization_url())?,
        token_url: url::Url::parse(&provider.token_url())?,
        scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
    };
    Ok(mailsig_daemon::http::app::ApiSettings {
        mail_oauth: MailOAuthLinking::new(
            OAuthProviders::new([corp]),
            &format!("https://localhost:{port}"),
        ),
        ..mailsig_daemon::http::app::ApiSettings::default()
    })
}

/// A user links an IMAP mailbox on the page by signing in at the provider (no password given
/// to mailsig); the watcher logs in to Dovecot with the token and the waiting message becomes a
/// suggestion. Started through the API, the link completes only in a browser signed in as the
/// same user: the provider's redirect opened without that session links nothing, and its state
/// cannot be used a second time, even with the session; opened with the session, it links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_links_imap_by_signing_in_at_the_provider_on_the_page_and_through_the_api_in_chromium()
-> Result<()> {
    use crate::web_support::Site;
    use mailsig_daemon::store::{MailboxFilter, SuggestionFilter};

    const EMAIL: &str = "pia@example.com";
    const PASSWORD: &str = "pia's password 1";
    let provider = OidcProvider::from_env()?;
    let port = free_port()?;
    let site = Site::start_on(port, true, mail_oauth_api(&provider, port)?).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Contacts").await?;
    let mailboxes = |store: mailsig_daemon::store::Store| async move {
        anyhow::Ok(
            store
                .list_mailboxes(&MailboxFilter {
                    owner: Some(owner.id),
                    kind: None,
                })
                .await?
                .len(),
        )
    };

    // On the page: the IMAP form, signing in at `corp` instead of a password.
    let user = site.env.create_mail_user()?;
    site.env
        .imap()
        .append(
            &user,
            "INBOX",
            &signed_mail("Ines Ortega", "ines", "oauth.example", &unique_id("page")),
        )
        .await?;
    let browser = mailsig_tests::browser::Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    browser.goto(&site.url("/mailboxes/new")).await?;
    browser.fill("#address", &user.address).await?;
    browser.fill("#host", "127.0.0.1").await?;
    browser.select("#security", "plaintext").await?;
    browser
        .fill("#port", &site.env.imap_port.to_string())
        .await?;
    browser.fill("#username", &user.name).await?;
    browser.select("#sign_in", "corp").await?;
    browser.select("#backfill", "50").await?;
    browser.select("#list", &list.id.0.to_string()).await?;
    let invalid: Vec<String> = browser
        .eval("return [...document.querySelectorAll('#imap-form :invalid')].map(e => e.id + ': ' + e.validationMessage)")
        .await?;
    ensure!(
        invalid.is_empty(),
        "the form does not validate: {invalid:?}"
    );
    browser.click("#link-imap").await?;
    // The answer sends the browser on to the provider (a refresh, and a link besides).
    let deadline = Instant::now() + WAIT;
    while browser.current_url().await?.host_str() == Some("localhost") {
        ensure!(
            Instant::now() < deadline,
            "still at the daemon: {}",
            browser.text("main").await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    crate::oidc::at_provider(&site, &browser, &user.name).await?;
    let on_mailbox_page = |p: &str| {
        p.strip_prefix("/mailboxes/")
            .is_some_and(|id| id.parse::<i64>().is_ok())
    };
    if browser.wait_path(on_mailbox_page, WAIT).await.is_err() {
        bail!(
            "not on the mailbox's page but {}: {}",
            browser.current_path().await?,
            browser.text("main").await.unwrap_or_default()
        );
    }
    let linked = site
        .store
        .list_mailboxes(&MailboxFilter {
            owner: Some(owner.id),
            kind: None,
        })
        .await?;
    ensure!(linked.len() == 1, "{} mailboxes", linked.len());
    let secret = linked[0].secret.context("no stored credential")?;
    let kind: (String,) = sqlx::query_as("SELECT kind FROM secrets WHERE id = ?")
        .bind(secret.0)
        .fetch_one(
            &sqlx::SqlitePool::connect(&format!(
                "sqlite://{}?mode=ro",
                site.database_files()[0].display()
            ))
            .await?,
        )
        .await?;
    ensure!(kind.0 == "oauth_tokens", "stored as {}", kind.0);
    let deadline = Instant::now() + WAIT;
    loop {
        let found = site
            .store
            .list_suggestions(list.id, &SuggestionFilter::default())
            .await?
            .iter()
            .any(|s| s.sender_email.starts_with("ines@"));
        if found {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no suggestion from the OAuth mailbox"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Through the API: the provider's redirect, opened without the starting user's session.
    let token = site.store.create_token(owner.id, "linking").await?;
    let ca = std::fs::read(site.env.ca_path())?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let start = |login: &MailUser| {
        let body = serde_json::json!({
            "provider": "corp", "list": list.id.0, "host": "127.0.0.1", "security": "plaintext",
            "port": site.env.imap_port, "username": login.name, "address": login.address,
        });
        let request = client
            .post(site.url("/api/v1/mailboxes/imap-oauth"))
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&token.secret).to_owned())
            .json(&body);
        async move {
            let reply = request.send().await?;
            ensure!(reply.status() == 200, "start: {}", reply.status());
            let body: serde_json::Value = reply.json().await?;
            body["authorize_url"]
                .as_str()
                .map(str::to_owned)
                .context("no authorize_url")
        }
    };
    let stranger_account = site.env.create_mail_user()?;
    let redirect = sign_in(&start(&stranger_account).await?, &stranger_account.name).await?;
    ensure!(
        redirect.path() == "/oauth/imap/callback",
        "redirected to {redirect}"
    );
    let without_session = client.get(redirect.as_str()).send().await?;
    ensure!(
        without_session.status() == 403,
        "without the session: {}",
        without_session.status()
    );
    let cookies = browser.cookie_header().await?;
    let replayed = client
        .get(redirect.as_str())
        .header(reqwest::header::COOKIE, &cookies)
        .send()
        .await?;
    ensure!(
        replayed.status() == 404,
        "the used state again: {}",
        replayed.status()
    );
    ensure!(
        mailboxes(site.store.clone()).await? == 1,
        "a refused link was stored"
    );

    // Opened with the session, the API's link completes.
    let second = site.env.create_mail_user()?;
    let redirect = sign_in(&start(&second).await?, &second.name).await?;
    let completed = client
        .get(redirect.as_str())
        .header(reqwest::header::COOKIE, &cookies)
        .send()
        .await?;
    ensure!(
        completed.status().is_redirection()
            && completed
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/mailboxes/")),
        "with the session: {}",
        completed.status()
    );
    ensure!(
        mailboxes(site.store.clone()).await? == 2,
        "the API's link was not stored"
    );
    browser.close().await?;
    site.stop().await
}
