//! Smoke tests of the test servers and the harness: each proves one thing the other end-to-end tests
//! rely on (TLS verifies against the test CA, SMTP AUTH delivers into IMAP, a bad password is refused,
//! PostgreSQL hands out fresh databases, a private Dovecot can be killed and restarted, the CardDAV
//! server answers discovery for its own user only).

use std::time::Duration;

use anyhow::{Context, Result};
use mailsig_tests::servers::{
    ImapEndpoint, ImapSecurity, PrivateDovecot, PrivateDovecotOptions, SmtpSecurity, TestEnv,
    client_config_trusting,
};
use sqlx::Connection;

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

fn message(token: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.test>\r\nTo: someone@example.test\r\nSubject: smoke {token}\r\n\
         Message-ID: <{token}@example.test>\r\n\r\nbody {token}\r\n"
    )
    .into_bytes()
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn imap_starttls_and_implicit_tls_verify_against_the_test_ca() -> Result<()> {
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    for security in [ImapSecurity::Starttls, ImapSecurity::Implicit] {
        let mut session = env.imap().login(&user, security).await?;
        let inbox = session.select("INBOX").await.context("select INBOX")?;
        assert_eq!(
            inbox.exists, 0,
            "a fresh user has an empty INBOX ({security:?})"
        );
        session.logout().await.context("logout")?;
    }
    let caps = env.imap().capabilities(&user).await?;
    for cap in ["IDLE", "CONDSTORE", "UIDPLUS"] {
        assert!(caps.iter().any(|c| c == cap), "{cap} missing from {caps:?}");
    }
    Ok(())
}

#[tokio::test]
async fn imap_is_refused_by_a_client_trusting_another_ca() -> Result<()> {
    let env = TestEnv::from_env()?;
    let stranger = ImapEndpoint::new(
        env.imap_port,
        env.imaps_port,
        client_config_trusting(&env.untrusted_ca())?,
    );
    for security in [ImapSecurity::Starttls, ImapSecurity::Implicit] {
        let err = stranger
            .connect(security)
            .await
            .err()
            .context("TLS with an untrusted CA must fail")?;
        assert!(
            format!("{err:#}").contains("TLS handshake"),
            "unexpected error: {err:#}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn imap_append_flags_and_uidvalidity() -> Result<()> {
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    let imap = env.imap();
    imap.append(&user, "INBOX", &message(&token())).await?;
    imap.append(&user, "Archive", &message(&token())).await?;
    let flags = imap.flags_of_all(&user, "INBOX").await?;
    assert_eq!(flags.len(), 1);
    assert!(
        !flags[0].1.iter().any(|f| f == "\\Seen"),
        "appended without flags, and looking must not set \\Seen"
    );

    let mut session = imap.login(&user, ImapSecurity::Implicit).await?;
    session.select("INBOX").await?;
    futures::TryStreamExt::try_collect::<Vec<_>>(
        session
            .uid_store(flags[0].0.to_string(), "+FLAGS (\\Seen $MailsigDone)")
            .await?,
    )
    .await?;
    session.logout().await?;
    let flags = imap.flags_of_all(&user, "INBOX").await?;
    for flag in ["\\Seen", "$MailsigDone"] {
        assert!(
            flags[0].1.iter().any(|f| f == flag),
            "{flag} missing from {:?}",
            flags[0].1
        );
    }
    assert_eq!(imap.fetch_all(&user, "Archive").await?.len(), 1);
    assert_ne!(imap.uid_validity(&user, "INBOX").await?, 0);
    Ok(())
}

async fn smtp_delivers(security: SmtpSecurity) -> Result<()> {
    let env = TestEnv::from_env()?;
    let sender = env.create_mail_user()?;
    let recipient = env.create_mail_user()?;
    let token = token();
    // Any domain: Postfix delivers <user>@<anything> into Dovecot user <user>.
    let to = format!("{}@somewhere.example", recipient.name);
    env.smtp()?
        .send_raw(&sender, security, &to, &message(&token))
        .await?;
    let got = env
        .imap()
        .wait_for_messages(&recipient, "INBOX", 1, DELIVERY_TIMEOUT)
        .await?;
    assert_eq!(got.len(), 1);
    let raw = String::from_utf8_lossy(&got[0].raw);
    assert!(
        raw.contains(&format!("body {token}")),
        "delivered message is not the one sent: {raw}"
    );
    assert!(
        env.imap().fetch_all(&sender, "INBOX").await?.is_empty(),
        "nothing goes to the sender"
    );
    Ok(())
}

#[tokio::test]
async fn smtp_starttls_auth_delivers_into_the_imap_inbox() -> Result<()> {
    smtp_delivers(SmtpSecurity::Starttls).await
}

#[tokio::test]
async fn smtp_implicit_tls_auth_delivers_into_the_imap_inbox() -> Result<()> {
    smtp_delivers(SmtpSecurity::Implicit).await
}

#[tokio::test]
async fn smtp_refuses_a_wrong_password_on_both_ports() -> Result<()> {
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    let smtp = env.smtp()?;
    for security in [SmtpSecurity::Starttls, SmtpSecurity::Implicit] {
        smtp.try_login(&user.name, &user.password, security)
            .await?
            .with_context(|| format!("the right password must work ({security:?})"))?;
        let err = smtp
            .try_login(&user.name, "wrong-password", security)
            .await?
            .err()
            .context("a wrong password must be refused")?;
        assert!(err.is_permanent(), "535 is permanent, got {err}");
        assert_eq!(
            err.status().map(|c| c.to_string()),
            Some("535".to_owned()),
            "{err}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn postgres_hands_out_fresh_isolated_databases() -> Result<()> {
    let env = TestEnv::from_env()?;
    let a = env.fresh_pg_database().await?;
    let b = env.fresh_pg_database().await?;
    assert_ne!(a, b);
    let mut conn = sqlx::PgConnection::connect(&a)
        .await
        .context("connect to fresh database")?;
    let (name, answer): (String, i32) = sqlx::query_as("SELECT current_database(), 42")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(answer, 42);
    assert!(
        a.ends_with(&format!("/{name}")) && name.starts_with("t_"),
        "{a} vs {name}"
    );
    sqlx::query("CREATE TABLE only_in_a (x INT)")
        .execute(&mut conn)
        .await?;
    let mut other = sqlx::PgConnection::connect(&b).await?;
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'")
            .fetch_one(&mut other)
            .await?;
    assert_eq!(tables, 0, "databases must not share tables");
    Ok(())
}

#[tokio::test]
async fn private_dovecot_survives_sigkill_and_restarts_with_its_mail() -> Result<()> {
    let env = TestEnv::from_env()?;
    let dovecot = PrivateDovecot::start(&env, PrivateDovecotOptions::default()).await?;
    let user = dovecot.create_mail_user()?;
    let imap = dovecot.imap()?;
    imap.append(&user, "INBOX", &message(&token())).await?;
    let validity = imap.uid_validity(&user, "INBOX").await?;
    let mut open = imap.login(&user, ImapSecurity::Implicit).await?;
    open.select("INBOX").await?;

    dovecot.kill().await?;
    assert!(!dovecot.is_running());
    assert!(
        open.noop().await.is_err(),
        "a session open across SIGKILL must break"
    );
    assert!(
        imap.connect(ImapSecurity::Implicit).await.is_err(),
        "nothing listens after kill"
    );

    dovecot.restart().await?;
    let messages = imap.fetch_all(&user, "INBOX").await?;
    assert_eq!(messages.len(), 1, "mail kept across the restart");
    assert_eq!(imap.uid_validity(&user, "INBOX").await?, validity);
    Ok(())
}

#[tokio::test]
async fn private_dovecot_can_hide_idle() -> Result<()> {
    let env = TestEnv::from_env()?;
    let dovecot = PrivateDovecot::start(
        &env,
        PrivateDovecotOptions {
            without_idle: true,
            ..Default::default()
        },
    )
    .await?;
    let user = dovecot.create_mail_user()?;
    let caps = dovecot.imap()?.capabilities(&user).await?;
    assert!(
        !caps.iter().any(|c| c == "IDLE"),
        "IDLE advertised: {caps:?}"
    );
    assert!(
        caps.iter().any(|c| c == "UIDPLUS"),
        "other capabilities kept: {caps:?}"
    );
    Ok(())
}

#[tokio::test]
async fn private_dovecot_with_untrusted_certificate_is_refused_by_the_test_ca() -> Result<()> {
    let env = TestEnv::from_env()?;
    let dovecot = PrivateDovecot::start(
        &env,
        PrivateDovecotOptions {
            untrusted_certificate: true,
            ..Default::default()
        },
    )
    .await?;
    let trusting_test_ca = ImapEndpoint::new(
        dovecot.imap_port,
        dovecot.imaps_port,
        env.tls_client_config(),
    );
    assert!(
        trusting_test_ca
            .connect(ImapSecurity::Implicit)
            .await
            .is_err()
    );
    assert!(
        trusting_test_ca
            .connect(ImapSecurity::Starttls)
            .await
            .is_err()
    );
    // The harness itself can still reach it (to seed mail), trusting the untrusted CA.
    let user = dovecot.create_mail_user()?;
    dovecot
        .imap()?
        .append(&user, "INBOX", &message(&token()))
        .await?;
    Ok(())
}

/// The CardDAV server (Radicale) answers RFC 6764 discovery over TLS that verifies against the test
/// CA, with its users' passwords only: the principal of `carddav` is found through
/// `current-user-principal` and `addressbook-home-set`, a wrong password is refused, and a client
/// that does not trust the test CA does not connect.
#[tokio::test]
async fn carddav_discovery_answers_over_tls_with_the_users_password_only() -> Result<()> {
    let base = std::env::var("MAILSIG_TEST_CARDDAV_URL")
        .context("MAILSIG_TEST_CARDDAV_URL (scripts/test-servers.sh start)")?;
    let ca = std::fs::read(std::env::var("MAILSIG_TEST_CA").context("MAILSIG_TEST_CA")?)?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let propfind = reqwest::Method::from_bytes(b"PROPFIND")?;
    let ask = |path: &str, user: &str, password: &str, prop: &str| {
        client
            .request(propfind.clone(), format!("{base}{path}"))
            .basic_auth(user, Some(password))
            .header("Depth", "0")
            .header("Content-Type", "application/xml")
            .body(format!(
                r#"<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop>{prop}</d:prop></d:propfind>"#
            ))
            .send()
    };

    // RFC 6764: the well-known URL redirects without authentication.
    let well_known = client
        .get(format!("{base}/.well-known/carddav"))
        .send()
        .await?;
    anyhow::ensure!(
        well_known.status().is_redirection(),
        "well-known: {}",
        well_known.status()
    );
    let principal = ask(
        "/",
        "carddav",
        "carddav-password",
        "<d:current-user-principal/>",
    )
    .await?;
    anyhow::ensure!(principal.status().as_u16() == 207, "{}", principal.status());
    let text = principal.text().await?;
    anyhow::ensure!(text.contains("<href>/carddav/</href>"), "{text}");
    let home = ask(
        "/carddav/",
        "carddav",
        "carddav-password",
        "<card:addressbook-home-set/>",
    )
    .await?;
    anyhow::ensure!(home.status().as_u16() == 207, "{}", home.status());
    let text = home.text().await?;
    anyhow::ensure!(
        text.contains("addressbook-home-set") && text.contains("/carddav/"),
        "{text}"
    );

    let wrong = ask("/carddav/", "carddav", "wrong-password", "<d:getetag/>").await?;
    anyhow::ensure!(wrong.status().as_u16() == 401, "{}", wrong.status());
    let other = ask("/carddav/", "other", "other-password", "<d:getetag/>").await?;
    anyhow::ensure!(other.status().as_u16() == 403, "{}", other.status());

    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(true)
        .build()?;
    anyhow::ensure!(
        untrusting.get(format!("{base}/")).send().await.is_err(),
        "a client without the test CA connected"
    );
    Ok(())
}
