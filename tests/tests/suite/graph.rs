//! The Microsoft 365 source end to end: the daemon's real code (supervisor, HTTP listener,
//! webhook, OAuth, graph-rs-sdk adapter, job workers, pipeline, store) against the Graph
//! emulator over real HTTP on loopback.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_tests::graph_support::{GraphWorld, signed_mail, wait_until};

const WAIT: Duration = Duration::from_secs(30);

/// `MAILSIG_TEST_LOG=debug` shows the daemon's log lines while debugging a test.
fn logs() {
    if let Ok(filter) = std::env::var("MAILSIG_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_subscribes_and_a_new_message_becomes_a_suggestion() -> Result<()> {
    logs();
    let world = GraphWorld::new("link").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    ensure!(
        mailbox.address == world.email.to_lowercase(),
        "mailbox address {}",
        mailbox.address
    );
    ensure!(mailbox.target_list == world.list);
    ensure!(
        subscription.change_type == "created",
        "changeType {}",
        subscription.change_type
    );
    ensure!(
        subscription.notification_url
            == format!("http://127.0.0.1:{}/graph/notifications", world.port),
        "notificationUrl {}",
        subscription.notification_url
    );
    ensure!(
        subscription.lifecycle_notification_url.as_deref()
            == Some(format!("http://127.0.0.1:{}/graph/lifecycle", world.port).as_str())
    );
    let client_state = subscription.client_state.clone().unwrap_or_default();
    ensure!(
        client_state.len() >= 32,
        "clientState is a long random value"
    );
    // Both URLs were validated by the handshake before Graph created the subscription.
    let validations = world
        .emulator
        .deliveries()
        .into_iter()
        .filter(|d| {
            d.kind == mailsig_tests::graph_emulator::DeliveryKind::Validation
                && d.status == Some(200)
        })
        .count();
    ensure!(
        validations >= 2,
        "{validations} validation handshakes answered 200"
    );
    // The clientState is sealed in the vault, not stored in clear.
    let stored = world.store.graph_subscriptions(mailbox.id).await?;
    ensure!(
        stored.len() == 1 && stored[0].id == subscription.id,
        "stored {stored:?}"
    );
    let sealed = world
        .store
        .get_secret(stored[0].client_state.context("client state id")?)
        .await?;
    ensure!(
        !String::from_utf8_lossy(&sealed.sealed).contains(&client_state),
        "clientState stored in clear"
    );

    world
        .emulator
        .deliver(&world.email, signed_mail("Jane", "Doe", "partner.example"))
        .await?;
    let suggestions = world.wait_for_suggestions(1, WAIT).await?;
    ensure!(
        suggestions[0].sender_email == "jane.doe@partner.example",
        "{:?}",
        suggestions[0].sender_email
    );
    let fetched = world
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/$value") && r.status == 200)
        .count();
    ensure!(fetched == 1, "{fetched} raw fetches");
    daemon.stop().await
}

/// When Microsoft cannot reach the notification URL, Graph refuses the subscription (its
/// validation request fails): the mailbox shows "needs attention: Microsoft cannot reach <url>"
/// instead of "ok", mail still arrives by delta, and once Graph reaches the URL again the
/// subscription is made and the warning goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_needs_attention_and_delta_still_reads_the_mail() -> Result<()> {
    use mailsig_daemon::store::MailboxStatus;
    logs();
    let world = GraphWorld::new("unreachable").await?;
    world.emulator.set_endpoint_unreachable(true);
    let daemon = world.start().await?;
    let callback = world
        .consent_url(mailsig_daemon::sources::graph::LinkOrigin::Cli)
        .await?;
    let answer = reqwest::get(&callback).await?;
    ensure!(answer.status().is_success(), "callback {}", answer.status());
    let url = format!("http://127.0.0.1:{}/graph/notifications", world.port);
    let mailbox = wait_until(WAIT, "the mailbox to need attention", || async {
        let mailbox = world.graph_mailbox().await?;
        Ok(mailbox.filter(|m| m.shown_status().0 == MailboxStatus::NeedsAttention))
    })
    .await?;
    let (status, reason) = mailbox.shown_status();
    ensure!(status == MailboxStatus::NeedsAttention);
    ensure!(
        reason.is_some_and(|r| r.starts_with(&format!("Microsoft cannot reach {url}"))),
        "{reason:?}"
    );
    // It keeps running: the stored status is ok, the owner's view says why it needs attention.
    ensure!(mailbox.status == MailboxStatus::Ok, "{:?}", mailbox.status);
    let view = mailsig_daemon::service::mailboxes::MailboxView::from(mailbox.clone());
    ensure!(view.needs_attention && view.status == MailboxStatus::NeedsAttention);
    ensure!(
        world.emulator.subscriptions().is_empty(),
        "a subscription exists"
    );

    world
        .emulator
        .deliver(&world.email, signed_mail("Ada", "Byron", "polled.example"))
        .await?;
    let suggestions = world.wait_for_suggestions(1, WAIT).await?;
    ensure!(suggestions[0].sender_email == "ada.byron@polled.example");

    world.emulator.set_endpoint_unreachable(false);
    world.wait_for_subscription(WAIT).await?;
    wait_until(WAIT, "the warning to clear", || async {
        let mailbox = world.graph_mailbox().await?.context("mailbox gone")?;
        Ok((mailbox.shown_status().0 == MailboxStatus::Ok).then_some(()))
    })
    .await?;
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Grace", "Brewster", "pushed.example"),
        )
        .await?;
    world.wait_for_suggestions(2, WAIT).await?;
    daemon.stop().await
}

/// A Microsoft 365 mailbox its owner paused stops running: a message that arrives meanwhile is
/// queued from its notification but not fetched; resuming starts the mailbox again and the
/// queued message becomes a suggestion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_microsoft_mailbox_reads_nothing_until_it_is_resumed() -> Result<()> {
    use mailsig_daemon::service::{Actor, mailboxes};
    use mailsig_daemon::sources::changed::MailboxesChanged;
    logs();
    let world = GraphWorld::new("paused").await?;
    let daemon = world.start().await?;
    let (mailbox, _) = world.link().await?;
    let graph = daemon.supervisor.graph().context("graph source")?;
    let owner = Actor::signed_in(world.user);
    let changed = MailboxesChanged::default();

    let view = mailboxes::pause(&world.store, &changed, owner, mailbox.id).await?;
    ensure!(view.status == mailsig_daemon::store::MailboxStatus::Paused && !view.needs_attention);
    wait_until(WAIT, "the paused mailbox's task to stop", || async {
        Ok((!graph.watched().contains(&mailbox.id)).then_some(()))
    })
    .await?;
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Mary", "Somerville", "paused.example"),
        )
        .await?;
    wait_until(WAIT, "the notification's job to be queued", || async {
        let counts = world.store.graph_job_counts(Some(mailbox.id)).await?;
        Ok((counts.pending > 0).then_some(()))
    })
    .await?;
    ensure!(
        raw_fetches(&world) == 0,
        "a paused mailbox's message was fetched"
    );
    ensure!(world.suggestions().await?.is_empty());

    mailboxes::resume(&world.store, &changed, owner, mailbox.id).await?;
    let suggestions = world.wait_for_suggestions(1, WAIT).await?;
    ensure!(suggestions[0].sender_email == "mary.somerville@paused.example");
    ensure!(
        graph.watched().contains(&mailbox.id),
        "not running after resume"
    );
    daemon.stop().await
}

/// POSTs `body` as JSON to the daemon's `path`; returns the status.
async fn post_json(world: &GraphWorld, path: &str, body: &serde_json::Value) -> Result<u16> {
    let url = format!("http://127.0.0.1:{}{path}", world.port);
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body)?)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    Ok(response.status().as_u16())
}

/// `$value` fetches that succeeded.
/// Waits until no job of the mailbox is pending: every fetch its notifications asked for has
/// been made and committed, so a count taken now is final.
async fn jobs_drained(world: &GraphWorld, mailbox: mailsig_daemon::store::MailboxId) -> Result<()> {
    wait_until(WAIT, "the mailbox's graph jobs to drain", || async {
        let counts = world.store.graph_job_counts(Some(mailbox)).await?;
        Ok((counts.pending == 0).then_some(()))
    })
    .await
}

fn raw_fetches(world: &GraphWorld) -> usize {
    world
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/$value") && r.status == 200)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_handshake_echoes_the_token_as_plain_text() -> Result<()> {
    logs();
    let world = GraphWorld::new("handshake").await?;
    let daemon = world.start().await?;
    let token = "<script>alert(1)</script> & Validation: ok";
    for path in ["/graph/notifications", "/graph/lifecycle"] {
        let mut url = url::Url::parse(&format!("http://127.0.0.1:{}{path}", world.port))?;
        url.query_pairs_mut().append_pair("validationToken", token);
        let response = reqwest::Client::new()
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .body("")
            .send()
            .await?;
        ensure!(
            response.status().as_u16() == 200,
            "{path}: {}",
            response.status()
        );
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        ensure!(
            content_type.starts_with("text/plain"),
            "{path}: content type {content_type}"
        );
        let body = response.text().await?;
        ensure!(body == token, "{path}: echoed {body:?}");
    }
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_notification_changes_nothing_and_is_counted() -> Result<()> {
    logs();
    let world = GraphWorld::new("forged").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    world.emulator.set_drop_notifications(true);
    let message = world
        .emulator
        .deliver(&world.email, signed_mail("Eve", "Forger", "evil.example"))
        .await?;
    let mut body = world
        .emulator
        .notification_body(&subscription.id, &message)
        .context("notification body")?;
    body["value"][0]["clientState"] = serde_json::Value::String("not-the-client-state".into());
    let jobs_before = world.store.graph_job_counts(Some(mailbox.id)).await?;
    ensure!(
        post_json(&world, "/graph/notifications", &body).await? == 202,
        "forged notification not answered 202"
    );
    // An unknown subscription too.
    body["value"][0]["subscriptionId"] = serde_json::Value::String("00000000-unknown".into());
    ensure!(post_json(&world, "/graph/notifications", &body).await? == 202);
    // The webhook counts and queues before it answers: nothing about these two is still to come.
    let stats = daemon.supervisor.graph().context("graph source")?.stats();
    ensure!(
        stats.notifications_forged == 1,
        "forged counted {}",
        stats.notifications_forged
    );
    ensure!(
        stats.notifications_unknown == 1,
        "unknown counted {}",
        stats.notifications_unknown
    );
    ensure!(
        world.store.graph_job_counts(Some(mailbox.id)).await? == jobs_before,
        "a job was queued"
    );
    ensure!(
        raw_fetches(&world) == 0,
        "the forged notification made the daemon fetch"
    );
    ensure!(
        world.suggestions().await?.is_empty(),
        "a suggestion appeared"
    );
    // The counters reach /metrics, in a valid exposition.
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", world.port))
        .await?
        .text()
        .await?;
    mailsig_tests::exposition_check::check_exposition(&metrics).map_err(anyhow::Error::msg)?;
    let forged_line = metrics
        .lines()
        .find(|l| l.starts_with("mailsig_graph_notifications_total{outcome=\"forged\"}"))
        .context("no forged counter in /metrics")?;
    ensure!(!forged_line.ends_with(" 0"), "{forged_line}");
    ensure!(
        metrics.contains("mailsig_graph_webhook_latency_seconds_bucket"),
        "no webhook latency histogram"
    );
    // The genuine notification still works.
    let genuine = world
        .emulator
        .notification_body(&subscription.id, &message)
        .context("notification body")?;
    ensure!(post_json(&world, "/graph/notifications", &genuine).await? == 202);
    world.wait_for_suggestions(1, WAIT).await?;
    jobs_drained(&world, mailbox.id).await?;
    ensure!(
        raw_fetches(&world) == 1,
        "{} fetches: the forged notification was fetched as well",
        raw_fetches(&world)
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_notifications_are_caught_up_by_delta_on_missed_without_doubles() -> Result<()> {
    logs();
    let world = GraphWorld::new("missed").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    world
        .emulator
        .deliver(&world.email, signed_mail("Anna", "First", "one.example"))
        .await?;
    world.wait_for_suggestions(1, WAIT).await?;

    world.emulator.set_drop_notifications(true);
    for (first, domain) in [
        ("Bert", "two.example"),
        ("Cora", "three.example"),
        ("Dan", "four.example"),
    ] {
        world
            .emulator
            .deliver(&world.email, signed_mail(first, "Dropped", domain))
            .await?;
    }
    ensure!(world.emulator.dropped_notifications() >= 3);
    // Graph never told the daemon: the three wait for the catch-up below.
    ensure!(
        world.suggestions().await?.len() == 1,
        "dropped notifications were acted on"
    );

    let status = world
        .emulator
        .send_lifecycle(
            &subscription.id,
            mailsig_tests::graph_emulator::LifecycleEvent::Missed,
        )
        .await?;
    ensure!(status == 202, "lifecycle answered {status}");
    world.wait_for_suggestions(4, WAIT).await?;

    world.emulator.set_drop_notifications(false);
    world
        .emulator
        .deliver(&world.email, signed_mail("Emil", "After", "five.example"))
        .await?;
    world.wait_for_suggestions(5, WAIT).await?;
    jobs_drained(&world, mailbox.id).await?;
    let suggestions = world.suggestions().await?;
    ensure!(suggestions.len() == 5, "{} suggestions", suggestions.len());
    ensure!(
        raw_fetches(&world) == 5,
        "{} raw fetches for 5 messages",
        raw_fetches(&world)
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_delivered_twice_is_processed_once() -> Result<()> {
    logs();
    let world = GraphWorld::new("duplicate").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    world.emulator.set_drop_notifications(true);
    let message = world
        .emulator
        .deliver(&world.email, signed_mail("Fritz", "Twice", "dup.example"))
        .await?;
    let body = world
        .emulator
        .notification_body(&subscription.id, &message)
        .context("notification body")?;
    for _ in 0..3 {
        ensure!(post_json(&world, "/graph/notifications", &body).await? == 202);
    }
    world.wait_for_suggestions(1, WAIT).await?;
    jobs_drained(&world, mailbox.id).await?;
    ensure!(world.suggestions().await?.len() == 1);
    ensure!(raw_fetches(&world) == 1, "{} fetches", raw_fetches(&world));
    let counts = world.store.graph_job_counts(Some(mailbox.id)).await?;
    ensure!(counts.pending == 0 && counts.failed == 0, "{counts:?}");
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_refresh_tokens_survive_a_restart() -> Result<()> {
    logs();
    let world = GraphWorld::new("refresh").await?;
    let daemon = world.start().await?;
    let (mailbox, _) = world.link().await?;
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Gina", "Before", "refresh.example"),
        )
        .await?;
    world.wait_for_suggestions(1, WAIT).await?;
    let sealed_before = world
        .store
        .get_secret(mailbox.secret.context("token secret")?)
        .await?
        .sealed;
    daemon.stop().await?;

    // The access token dies while the daemon is down: the new process must refresh with the
    // refresh token the old one stored (the emulator rotates and refuses a used one).
    world.emulator.expire_access_tokens(&world.email);
    let refreshes_before = world.emulator.refresh_count(&world.email);
    let daemon = world.start().await?;
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Hugo", "After", "refresh.example"),
        )
        .await?;
    world.wait_for_suggestions(2, WAIT).await?;
    ensure!(
        world.emulator.refresh_count(&world.email) > refreshes_before,
        "no refresh happened"
    );
    let sealed_after = world
        .store
        .get_secret(mailbox.secret.context("token secret")?)
        .await?
        .sealed;
    ensure!(
        sealed_after != sealed_before,
        "the rotated tokens were not stored"
    );
    daemon.stop().await?;

    // Once more, proving the token stored by the second process is the live one.
    world.emulator.expire_access_tokens(&world.email);
    let daemon = world.start().await?;
    world
        .emulator
        .deliver(&world.email, signed_mail("Ida", "Third", "refresh.example"))
        .await?;
    world.wait_for_suggestions(3, WAIT).await?;
    ensure!(
        world.store.get_mailbox(mailbox.id).await?.status
            == mailsig_daemon::store::MailboxStatus::Ok
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_renewed_before_they_expire() -> Result<()> {
    logs();
    let world = GraphWorld::new("renew").await?;
    // Graph grants 4 s: the daemon must renew at about half of that, again and again.
    world
        .emulator
        .set_max_subscription_lifetime(Duration::from_secs(4));
    let daemon = world.start().await?;
    let (_, first) = world.link().await?;
    let started = std::time::Instant::now();
    let mut last_expiry = first.expiration;
    while started.elapsed() < Duration::from_secs(9) {
        let now = time::OffsetDateTime::now_utc();
        let current = world
            .emulator
            .subscriptions()
            .into_iter()
            .find(|s| s.user.eq_ignore_ascii_case(&world.email));
        let current = current.context("the subscription expired or vanished")?;
        ensure!(
            current.id == first.id,
            "the subscription was replaced instead of renewed"
        );
        ensure!(
            current.expiration > now,
            "the subscription expired before renewal"
        );
        last_expiry = current.expiration;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let current = world
        .emulator
        .subscriptions()
        .into_iter()
        .find(|s| s.id == first.id)
        .context("subscription")?;
    ensure!(
        current.reauthorized >= 3,
        "renewed {} times in 9 s",
        current.reauthorized
    );
    ensure!(last_expiry > first.expiration, "expiry did not move");
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthorization_required_renews_the_subscription() -> Result<()> {
    logs();
    let world = GraphWorld::new("reauth").await?;
    let daemon = world.start().await?;
    let (_, subscription) = world.link().await?;
    ensure!(subscription.reauthorized == 0);
    let status = world
        .emulator
        .send_lifecycle(
            &subscription.id,
            mailsig_tests::graph_emulator::LifecycleEvent::ReauthorizationRequired,
        )
        .await?;
    ensure!(status == 202, "lifecycle answered {status}");
    wait_until(WAIT, "a renewal", || {
        let renewed = world
            .emulator
            .subscriptions()
            .into_iter()
            .any(|s| s.id == subscription.id && s.reauthorized >= 1);
        async move { Ok(renewed.then_some(())) }
    })
    .await?;
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_removed_is_recreated_and_resynced() -> Result<()> {
    logs();
    let world = GraphWorld::new("removed").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    // Mail arrives while Graph is removing the subscription (no notification reaches us).
    world.emulator.set_drop_notifications(true);
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Jonas", "Removed", "gone.example"),
        )
        .await?;
    world.emulator.set_drop_notifications(false);
    let status = world
        .emulator
        .send_lifecycle(
            &subscription.id,
            mailsig_tests::graph_emulator::LifecycleEvent::SubscriptionRemoved,
        )
        .await?;
    ensure!(status == 202, "lifecycle answered {status}");
    let replacement = wait_until(WAIT, "a new subscription", || {
        let found = world
            .emulator
            .subscriptions()
            .into_iter()
            .find(|s| s.user.eq_ignore_ascii_case(&world.email) && s.id != subscription.id);
        async move { Ok(found) }
    })
    .await?;
    world.wait_for_suggestions(1, WAIT).await?;
    let stored = world.store.graph_subscriptions(mailbox.id).await?;
    ensure!(
        stored.len() == 1 && stored[0].id == replacement.id,
        "stored {stored:?}"
    );
    // Notifications of the new subscription work.
    world
        .emulator
        .deliver(&world.email, signed_mail("Karla", "New", "new.example"))
        .await?;
    world.wait_for_suggestions(2, WAIT).await?;
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_honours_retry_after_and_four_requests_per_mailbox() -> Result<()> {
    logs();
    let world = GraphWorld::new("throttle").await?;
    let daemon = world.start().await?;
    world.link().await?;
    world
        .emulator
        .inject(mailsig_tests::graph_emulator::Fault::Throttle {
            times: 2,
            retry_after_secs: 1,
        });
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Lena", "Throttled", "slow.example"),
        )
        .await?;
    world.wait_for_suggestions(1, WAIT).await?;
    let requests = world.emulator.requests();
    let throttled: Vec<_> = requests.iter().filter(|r| r.status == 429).collect();
    ensure!(
        throttled.len() == 2,
        "{} throttled answers",
        throttled.len()
    );
    // Each retry came at least Retry-After (1 s) after the 429.
    for answer in &throttled {
        let next = requests
            .iter()
            .filter(|r| r.started > answer.finished && r.path == answer.path)
            .map(|r| r.started)
            .min()
            .context("no retry after a 429")?;
        let waited = next - answer.finished;
        ensure!(
            waited >= Duration::from_millis(950),
            "retried after {waited:?}, Retry-After was 1 s"
        );
    }

    // Many messages at once, each fetch slowed down: never more than 4 requests in flight.
    world
        .emulator
        .inject(mailsig_tests::graph_emulator::Fault::Slow {
            times: 12,
            delay: Duration::from_millis(300),
        });
    let names = [
        "Adler", "Becker", "Conrad", "Dietrich", "Engel", "Fischer", "Graf", "Hahn", "Jung",
        "Keller", "Lang", "Mayer",
    ];
    for (i, last) in names.iter().enumerate() {
        world
            .emulator
            .deliver(
                &world.email,
                signed_mail("Max", last, &format!("p{i}.example")),
            )
            .await?;
    }
    world
        .wait_for_suggestions(13, Duration::from_secs(60))
        .await?;
    let most = world.emulator.max_concurrency(&world.email);
    ensure!(most <= 4, "{most} requests of one mailbox in flight");
    ensure!(most >= 2, "requests did not overlap at all ({most})");
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_consent_marks_the_mailbox_needs_reconsent_and_tells_the_owner() -> Result<()> {
    logs();
    let world = GraphWorld::new("revoked").await?;
    let daemon = world.start().await?;
    let (mailbox, _) = world.link().await?;
    world.emulator.revoke_refresh_tokens(&world.email);
    world.emulator.expire_access_tokens(&world.email);
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Nora", "Revoked", "revoked.example"),
        )
        .await?;
    wait_until(WAIT, "status needs_reconsent", || async {
        let status = world.store.get_mailbox(mailbox.id).await?.status;
        Ok((status == mailsig_daemon::store::MailboxStatus::NeedsReconsent).then_some(()))
    })
    .await?;
    let depth = world.store.outbox_depth().await?;
    ensure!(
        depth.pending == 1,
        "one notice to the owner queued: {depth:?}"
    );
    ensure!(world.suggestions().await?.is_empty());
    // The message waits. The mailbox's own page offers to consent again; consenting with the
    // same account brings the mailbox back in place and processes the message.
    let (cookie, _) = world.session(world.user).await?;
    let base = format!("http://127.0.0.1:{}", world.port);
    let (status, page) =
        get_with_cookie(&format!("{base}/mailboxes/{}", mailbox.id.0), Some(&cookie)).await?;
    ensure!(status == 200, "the mailbox page answered {status}");
    let form = page
        .split(r#"id="consent-again-form""#)
        .nth(1)
        .and_then(|rest| rest.split("</form>").next())
        .context("the mailbox page offers no consent-again form")?;
    let hidden = |name: &str| {
        form.split(&format!(r#"name="{name}" value=""#))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
            .with_context(|| format!("no {name} in the consent-again form"))
    };
    let list = hidden("list")?;
    ensure!(
        list == world.list.0.to_string(),
        "the form sends list {list}"
    );
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{base}/mailboxes/microsoft"))
        .header("cookie", &cookie)
        .form(&[("list", list), ("csrf_token", hidden("csrf_token")?)])
        .send()
        .await?;
    ensure!(
        answer.status().as_u16() == 200,
        "consent again answered {}",
        answer.status()
    );
    let location = continue_url(&answer.text().await?)?;
    let callback = world.emulator.consent(&location, &world.email).await?;
    let (status, done) = get_with_cookie(&callback, Some(&cookie)).await?;
    ensure!(status == 200, "callback {status}: {done}");
    let (relinked, _) = world.linked().await?;
    ensure!(
        relinked.id == mailbox.id,
        "re-consent created another mailbox"
    );
    ensure!(
        world.store.get_mailbox(mailbox.id).await?.status
            == mailsig_daemon::store::MailboxStatus::Ok
    );
    world.wait_for_suggestions(1, WAIT).await?;
    // Every job that failed while the consent was withdrawn ran before the waiting message could
    // be processed: one notice, however many of them failed.
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = $1")
        .bind(mailsig_daemon::domain::OutboxMessage::ATTENTION_KIND)
        .fetch_one(world.store.pool())
        .await?;
    ensure!(notices == 1, "the notice was queued {notices} times");
    daemon.stop().await
}

/// The vault records a linked mailbox holds: its tokens and its subscription's clientState.
struct LinkSecrets {
    tokens: mailsig_daemon::store::SecretId,
    client_state: mailsig_daemon::store::SecretId,
}

impl LinkSecrets {
    async fn of(
        world: &GraphWorld,
        mailbox: &mailsig_daemon::store::Mailbox,
    ) -> Result<LinkSecrets> {
        let subscriptions = world.store.graph_subscriptions(mailbox.id).await?;
        let client_state = subscriptions
            .first()
            .and_then(|s| s.client_state)
            .context("clientState secret")?;
        Ok(LinkSecrets {
            tokens: mailbox.secret.context("token secret")?,
            client_state,
        })
    }

    /// Both records are gone from the store.
    async fn ensure_wiped(&self, world: &GraphWorld) -> Result<()> {
        ensure!(
            world
                .store
                .get_secret(self.tokens)
                .await
                .is_err_and(|e| e.is_not_found()),
            "tokens not wiped"
        );
        ensure!(
            world
                .store
                .get_secret(self.client_state)
                .await
                .is_err_and(|e| e.is_not_found()),
            "clientState not wiped"
        );
        Ok(())
    }
}

/// What an unlink leaves: no subscription at Graph, no subscription row, the mailbox not listed.
async fn ensure_unlinked(
    world: &GraphWorld,
    mailbox: &mailsig_daemon::store::Mailbox,
    subscription: &str,
) -> Result<()> {
    ensure!(
        !world
            .emulator
            .subscriptions()
            .iter()
            .any(|s| s.id == subscription),
        "the subscription still exists at Graph"
    );
    ensure!(
        world
            .store
            .graph_subscriptions(mailbox.id)
            .await?
            .is_empty(),
        "subscription rows left"
    );
    ensure!(
        world.graph_mailbox().await?.is_none(),
        "the mailbox is still listed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_deletes_the_subscription_and_wipes_the_tokens() -> Result<()> {
    logs();
    let world = GraphWorld::new("unlink").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    let secrets = LinkSecrets::of(&world, &mailbox).await?;
    daemon
        .supervisor
        .graph()
        .context("graph source")?
        .unlink(mailbox.id)
        .await?;
    ensure_unlinked(&world, &mailbox, &subscription.id).await?;
    secrets.ensure_wiped(&world).await?;
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_starts_a_microsoft_link_that_the_callback_completes() -> Result<()> {
    use secrecy::ExposeSecret;
    logs();
    let world = GraphWorld::new("api").await?;
    let daemon = world.start().await?;
    let token = world.store.create_token(world.user, "graph test").await?;
    let answer = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/v1/mailboxes/microsoft",
            world.port
        ))
        .bearer_auth(token.secret.expose_secret())
        .json(&serde_json::json!({ "list": world.list.0 }))
        .send()
        .await?;
    ensure!(
        answer.status().as_u16() == 200,
        "api answered {}",
        answer.status()
    );
    let body: serde_json::Value = answer.json().await?;
    let url = body["authorize_url"]
        .as_str()
        .context("authorize_url")?
        .to_owned();
    ensure!(url.starts_with(&world.emulator.authority_url()), "{url}");
    ensure!(
        url.contains("code_challenge_method=S256"),
        "no PKCE in {url}"
    );
    let callback = world.emulator.consent(&url, &world.email).await?;
    // An API-started linking completes in a browser signed in as the same user.
    let (cookie, _) = world.session(world.user).await?;
    ensure!(get_with_cookie(&callback, Some(&cookie)).await?.0 == 200);
    // The state works once: replaying the callback links nothing more.
    ensure!(
        get_with_cookie(&callback, Some(&cookie)).await?.0 == 400,
        "a replayed callback was accepted"
    );
    world.wait_for_subscription(WAIT).await?;
    ensure!(world.graph_mailbox().await?.is_some());
    daemon.stop().await
}

/// GETs `url` (no redirects followed) with the session cookie, if any; status and body.
async fn get_with_cookie(url: &str, cookie: Option<&str>) -> Result<(u16, String)> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut request = client.get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// DELETE `/api/v1/mailboxes/{id}` with a bearer token; the status.
async fn api_delete_mailbox(world: &GraphWorld, token: &str, id: i64) -> Result<u16> {
    let response = reqwest::Client::new()
        .delete(format!(
            "http://127.0.0.1:{}/api/v1/mailboxes/{id}",
            world.port
        ))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// The value of one unlabelled sample line in a `/metrics` text.
fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(sample)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(world: &GraphWorld) -> Result<String> {
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", world.port))
        .await?
        .text()
        .await?;
    mailsig_tests::exposition_check::check_exposition(&text).map_err(anyhow::Error::msg)?;
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_through_the_api_deletes_the_subscription_wipes_secrets_and_forgets_the_webhook()
-> Result<()> {
    use secrecy::ExposeSecret;
    logs();
    let world = GraphWorld::new("apiunlink").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    let secrets = LinkSecrets::of(&world, &mailbox).await?;
    // A genuine notification body for later, captured while the subscription lives.
    world.emulator.set_drop_notifications(true);
    let message = world
        .emulator
        .deliver(&world.email, signed_mail("Olga", "Late", "late.example"))
        .await?;
    let late = world
        .emulator
        .notification_body(&subscription.id, &message)
        .context("notification body")?;

    // A stranger's DELETE is "not found" and changes nothing.
    let stranger = world
        .store
        .create_user(
            &format!("stranger-{}@mycorp.example", rand::random::<u32>()),
            None,
        )
        .await?;
    let stranger_token = world.store.create_token(stranger.id, "stranger").await?;
    let status =
        api_delete_mailbox(&world, stranger_token.secret.expose_secret(), mailbox.id.0).await?;
    ensure!(status == 404, "a stranger's unlink answered {status}");
    ensure!(
        world
            .emulator
            .subscriptions()
            .iter()
            .any(|s| s.id == subscription.id),
        "a stranger deleted the subscription"
    );
    ensure!(
        world.store.get_secret(secrets.tokens).await.is_ok(),
        "a stranger wiped the tokens"
    );
    ensure!(
        world.store.get_secret(secrets.client_state).await.is_ok(),
        "a stranger wiped the clientState"
    );
    ensure!(
        world.graph_mailbox().await?.is_some(),
        "a stranger removed the mailbox"
    );
    let source = daemon.supervisor.graph().context("graph source")?;
    ensure!(
        source.runtime(mailbox.id).is_some(),
        "the mailbox stopped running"
    );

    // The owner's DELETE unlinks for real.
    let token = world.store.create_token(world.user, "owner").await?;
    let status = api_delete_mailbox(&world, token.secret.expose_secret(), mailbox.id.0).await?;
    ensure!(status == 204, "the owner's unlink answered {status}");
    ensure_unlinked(&world, &mailbox, &subscription.id).await?;
    secrets.ensure_wiped(&world).await?;
    ensure!(
        source.runtime(mailbox.id).is_none(),
        "the mailbox task still runs"
    );

    // A notification for the old subscription is unknown now and queues nothing.
    let unknown_before = source.stats().notifications_unknown;
    ensure!(post_json(&world, "/graph/notifications", &late).await? == 202);
    ensure!(
        source.stats().notifications_unknown == unknown_before + 1,
        "not counted as unknown"
    );
    ensure!(
        world.store.graph_job_counts(Some(mailbox.id)).await? == Default::default(),
        "a job was queued"
    );
    // A reconciliation pass, the only thing that starts a mailbox, does not bring it back; with
    // no job and no task nothing can fetch for it.
    source.reconcile().await?;
    ensure!(
        raw_fetches(&world) == 0,
        "the daemon fetched for an unlinked mailbox"
    );
    ensure!(world.suggestions().await?.is_empty());
    ensure!(
        source.runtime(mailbox.id).is_none(),
        "the unlinked mailbox was started again"
    );
    ensure!(
        !world
            .emulator
            .subscriptions()
            .iter()
            .any(|s| s.user.eq_ignore_ascii_case(&world.email)),
        "a subscription was created again after the unlink"
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_while_graph_is_down_still_wipes_the_secrets_and_counts_it() -> Result<()> {
    use secrecy::ExposeSecret;
    logs();
    let world = GraphWorld::new("unlinkdown").await?;
    let daemon = world.start().await?;
    let (mailbox, subscription) = world.link().await?;
    let secrets = LinkSecrets::of(&world, &mailbox).await?;
    let before = metric(
        &scrape(&world).await?,
        "mailsig_graph_unlink_incomplete_total",
    )
    .context("no unlink counter")?;
    world
        .emulator
        .inject(mailsig_tests::graph_emulator::Fault::Unavailable {
            times: 1000,
            retry_after_secs: None,
        });
    let token = world.store.create_token(world.user, "owner").await?;
    let started = std::time::Instant::now();
    let status = api_delete_mailbox(&world, token.secret.expose_secret(), mailbox.id.0).await?;
    ensure!(status == 204, "unlink answered {status}");
    ensure!(
        started.elapsed()
            < mailsig_daemon::sources::graph::UNLINK_GRAPH_BUDGET + Duration::from_secs(5),
        "unlink took {:?}",
        started.elapsed()
    );
    ensure!(
        world
            .emulator
            .subscriptions()
            .iter()
            .any(|s| s.id == subscription.id),
        "Graph was not down after all"
    );
    // Nothing of the mailbox runs any more: no task, a reconciliation pass does not start one,
    // and no Graph call came after the unlink answered.
    let source = daemon.supervisor.graph().context("graph source")?;
    let calls = world.emulator.requests().len();
    source.reconcile().await?;
    ensure!(
        source.runtime(mailbox.id).is_none(),
        "the unlinked mailbox still has a task"
    );
    ensure!(
        world.emulator.requests().len() == calls,
        "Graph was still called for the unlinked mailbox"
    );
    secrets.ensure_wiped(&world).await?;
    ensure!(
        world.graph_mailbox().await?.is_none(),
        "the mailbox is still listed"
    );
    let after = metric(
        &scrape(&world).await?,
        "mailsig_graph_unlink_incomplete_total",
    )
    .context("no unlink counter")?;
    ensure!(
        after >= before + 1.0,
        "incomplete unlink not counted ({before} -> {after})"
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_graph_lag_and_subscriptions_by_state() -> Result<()> {
    logs();
    let world = GraphWorld::new("metrics").await?;
    let daemon = world.start().await?;
    let lag_count = r#"mailsig_source_lag_seconds_count{source="graph"}"#;
    let before = metric(&scrape(&world).await?, lag_count).context("no graph lag histogram")?;
    world.link().await?;
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Paula", "Metric", "metric.example"),
        )
        .await?;
    world.wait_for_suggestions(1, WAIT).await?;
    // The lag is observed right after the commit the suggestion came from; values read from
    // the store (subscriptions by state) may be up to one store reading interval old.
    let active = r#"mailsig_graph_subscriptions{state="active"}"#;
    let text = wait_until(
        WAIT,
        "the graph lag and the subscription to show",
        || async {
            let text = scrape(&world).await?;
            Ok((metric(&text, lag_count).is_some_and(|n| n > before)
                && metric(&text, active) == Some(1.0))
            .then_some(text))
        },
    )
    .await?;
    for state in mailsig_daemon::store::SubscriptionState::ALL {
        let sample = format!(
            "mailsig_graph_subscriptions{{state=\"{}\"}}",
            state.as_str()
        );
        let n = metric(&text, &sample).with_context(|| format!("no {sample} in /metrics"))?;
        let want = if state == mailsig_daemon::store::SubscriptionState::Active {
            1.0
        } else {
            0.0
        };
        ensure!(n == want, "{sample} = {n}, want {want}");
    }
    ensure!(
        metric(&text, r#"mailsig_graph_subscriptions{state="expired"}"#) == Some(0.0),
        "expired subscriptions"
    );
    ensure!(
        metric(
            &text,
            r#"mailsig_graph_notifications_total{outcome="received"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "notifications not counted"
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_started_callback_needs_the_same_users_browser_session() -> Result<()> {
    use mailsig_daemon::sources::graph::LinkOrigin;
    logs();
    let world = GraphWorld::new("session").await?;
    let daemon = world.start().await?;
    let stranger = world
        .store
        .create_user(
            &format!("stranger-{}@mycorp.example", rand::random::<u32>()),
            None,
        )
        .await?;
    let (stranger_cookie, _) = world.session(stranger.id).await?;
    let (owner_cookie, _) = world.session(world.user).await?;

    // Another user's session: refused, nothing linked, and the state is used up (the code,
    // possibly a stranger's mailbox, is never redeemed).
    let callback = world.consent_url(LinkOrigin::Web).await?;
    let (status, page) = get_with_cookie(&callback, Some(&stranger_cookie)).await?;
    ensure!(status == 403, "another user's session: {status} {page}");
    ensure!(page.contains("not linked"), "{page}");
    let (status, _) = get_with_cookie(&callback, Some(&owner_cookie)).await?;
    ensure!(
        status == 400,
        "the refused state was accepted afterwards: {status}"
    );
    // No session at all: refused too (for the API-started flow as well).
    for origin in [LinkOrigin::Web, LinkOrigin::Api] {
        let callback = world.consent_url(origin).await?;
        let (status, _) = get_with_cookie(&callback, None).await?;
        ensure!(status == 403, "{origin:?} without a session: {status}");
    }
    // The callback links (or not) before it answers.
    ensure!(
        world.graph_mailbox().await?.is_none(),
        "a refused callback linked a mailbox"
    );
    ensure!(
        world.emulator.subscriptions().is_empty(),
        "a refused callback subscribed"
    );

    // The same user's session: linked.
    let callback = world.consent_url(LinkOrigin::Web).await?;
    let (status, page) = get_with_cookie(&callback, Some(&owner_cookie)).await?;
    ensure!(status == 200, "the owner's session: {status} {page}");
    world.linked().await?;
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_microsoft_button_links_a_mailbox_that_shows_on_the_dashboard() -> Result<()> {
    logs();
    let world = GraphWorld::new("button").await?;
    let daemon = world.start().await?;
    let (cookie, csrf) = world.session(world.user).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://127.0.0.1:{}", world.port);
    // With [graph] configured, the linking page offers the button (and no "not set up" text).
    let (status, linking) =
        get_with_cookie(&format!("{base}/mailboxes/new"), Some(&cookie)).await?;
    ensure!(status == 200, "the linking page answered {status}");
    ensure!(
        linking.contains(r#"id="connect-microsoft""#)
            && linking.contains(r#"action="/mailboxes/microsoft""#)
            && !linking.contains(r#"id="microsoft-unconfigured""#),
        "the linking page does not offer Microsoft 365 although it is configured"
    );
    let answer = client
        .post(format!("{base}/mailboxes/microsoft"))
        .header("cookie", &cookie)
        .form(&[
            ("list", world.list.0.to_string()),
            ("csrf_token", csrf.clone()),
        ])
        .send()
        .await?;
    ensure!(
        answer.status().as_u16() == 200,
        "the button answered {}",
        answer.status()
    );
    let location = continue_url(&answer.text().await?)?;
    let authorize = url::Url::parse(&location)?;
    ensure!(
        location.starts_with(&format!("{}/", world.emulator.authority_url())),
        "{location}"
    );
    ensure!(
        authorize.path().ends_with("/oauth2/v2.0/authorize"),
        "{location}"
    );
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    ensure!(
        field("client_id") == mailsig_tests::graph_support::CLIENT_ID,
        "client_id {}",
        field("client_id")
    );
    ensure!(field("response_type") == "code");
    ensure!(
        field("redirect_uri") == format!("{base}/oauth/microsoft/callback"),
        "redirect_uri {}",
        field("redirect_uri")
    );
    ensure!(
        field("scope") == "offline_access User.Read Mail.Read",
        "scope {}",
        field("scope")
    );
    ensure!(field("code_challenge_method") == "S256");
    let challenge = field("code_challenge");
    ensure!(
        challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "code_challenge {challenge:?} is not a base64url SHA-256"
    );
    ensure!(field("state").len() >= 32, "state {:?}", field("state"));
    // A form without the CSRF token starts nothing.
    let forged = client
        .post(format!("{base}/mailboxes/microsoft"))
        .header("cookie", &cookie)
        .form(&[("list", world.list.0.to_string())])
        .send()
        .await?;
    ensure!(
        forged.status().as_u16() == 403,
        "a form without CSRF token answered {}",
        forged.status()
    );

    // The emulator signs the user in and consents; the browser follows to the callback.
    let callback = world.emulator.consent(&location, &world.email).await?;
    let (status, page) = get_with_cookie(&callback, Some(&cookie)).await?;
    ensure!(status == 200, "callback {status}: {page}");
    let (mailbox, _) = world.linked().await?;
    let (status, dashboard) = get_with_cookie(&format!("{base}/dashboard"), Some(&cookie)).await?;
    ensure!(status == 200, "dashboard {status}");
    ensure!(
        dashboard.contains(&mailbox.address),
        "the dashboard does not show {}",
        mailbox.address
    );

    // The page's unlink button unlinks for real too.
    let subscription = world.wait_for_subscription(WAIT).await?;
    let answer = client
        .post(format!("{base}/mailboxes/{}/unlink", mailbox.id.0))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await?;
    ensure!(
        answer.status().as_u16() == 303,
        "unlink button answered {}",
        answer.status()
    );
    ensure_unlinked(&world, &mailbox, &subscription.id).await?;
    daemon.stop().await
}

/// The Graph store functions on both backends (the end-to-end tests above run on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_store_operations_work_on_sqlite_and_postgres() -> Result<()> {
    use mailsig_daemon::store::{
        Cursor, GraphJobKind, GraphJobOutcome, GraphSubscription, LinkOrigin, MailboxKind,
        NewGraphJob, NewMailbox, SecretKind, Store, SubscriptionState,
    };
    let dir = tempfile::tempdir()?;
    let urls = [
        Store::sqlite_url(&dir.path().join("g.db")),
        mailsig_tests::servers::fresh_pg_database().await?,
    ];
    for url in urls {
        let store = Store::open(&url).await?;
        store.migrate().await?;
        let user = store
            .create_user("graph-store@mycorp.example", None)
            .await?;
        let list = store.create_list(user.id, "Contacts").await?;
        let secret = store
            .put_secret(SecretKind::OauthTokens, b"sealed", 1)
            .await?;
        let mailbox = store
            .create_mailbox(NewMailbox {
                owner: user.id,
                kind: MailboxKind::Graph,
                address: "m@contoso.test".into(),
                display_name: None,
                target_list: list.id,
                excluded_domains: vec![],
                settings: serde_json::json!({"user_id": "u1", "folders": ["inbox"]}),
                secret: Some(secret),
            })
            .await?;
        // A warning of the running source: shown as needs attention, written only on change,
        // and cleared.
        let warned = "Microsoft cannot reach https://mailsig.example/graph/notifications";
        ensure!(
            store
                .set_mailbox_warning_fenced(mailbox.id, Some(warned), None)
                .await?
        );
        ensure!(
            !store
                .set_mailbox_warning_fenced(mailbox.id, Some(warned), None)
                .await?
        );
        let shown = store.get_mailbox(mailbox.id).await?;
        ensure!(
            shown.shown_status()
                == (
                    mailsig_daemon::store::MailboxStatus::NeedsAttention,
                    Some(warned)
                ),
            "{:?}",
            shown.shown_status()
        );
        ensure!(
            store
                .set_mailbox_warning_fenced(mailbox.id, None, None)
                .await?
        );
        ensure!(store.get_mailbox(mailbox.id).await?.warning.is_none());
        // Linking state works once.
        store
            .put_oauth_state(
                "hash1",
                user.id,
                list.id,
                LinkOrigin::Api,
                b"verifier",
                Duration::from_secs(60),
            )
            .await?;
        let taken = store.take_oauth_state("hash1").await?;
        ensure!(
            taken.user == user.id && taken.origin == LinkOrigin::Api,
            "{taken:?}"
        );
        ensure!(
            store
                .take_oauth_state("hash1")
                .await
                .is_err_and(|e| e.is_not_found())
        );
        // Subscriptions: replace per folder wipes the old clientState.
        let state1 = store
            .put_secret(SecretKind::GraphClientState, b"s1", 1)
            .await?;
        let sub = GraphSubscription {
            id: "sub-1".into(),
            mailbox: mailbox.id,
            folder: "inbox".into(),
            resource: "me/mailFolders('inbox')/messages".into(),
            client_state: Some(state1),
            state: SubscriptionState::Active,
            renewed_at: 1,
            expires_at: 10,
        };
        store.put_graph_subscription(&sub, None).await?;
        store.renew_graph_subscription("sub-1", 5, 20, None).await?;
        ensure!(
            store
                .graph_subscription("sub-1")
                .await?
                .map(|s| s.expires_at)
                == Some(20)
        );
        // Counted by state for /metrics, expired apart.
        let counts = store.count_graph_subscriptions(10).await?;
        ensure!(
            counts.live(SubscriptionState::Active) == 1 && counts.expired == 0,
            "{counts:?}"
        );
        let counts = store.count_graph_subscriptions(20).await?;
        ensure!(
            counts.live(SubscriptionState::Active) == 0 && counts.expired == 1,
            "{counts:?}"
        );
        let state2 = store
            .put_secret(SecretKind::GraphClientState, b"s2", 1)
            .await?;
        store
            .put_graph_subscription(
                &GraphSubscription {
                    id: "sub-2".into(),
                    client_state: Some(state2),
                    ..sub.clone()
                },
                None,
            )
            .await?;
        ensure!(
            store
                .get_secret(state1)
                .await
                .is_err_and(|e| e.is_not_found()),
            "old clientState kept"
        );
        ensure!(store.graph_subscriptions(mailbox.id).await?.len() == 1);
        // Jobs: a duplicate queues nothing; lifecycle jobs coalesce; claim, finish, retry.
        let job = |kind, item: &str| NewGraphJob {
            mailbox: mailbox.id,
            kind,
            folder: "inbox".into(),
            item: item.into(),
        };
        ensure!(
            store
                .enqueue_graph_jobs(&[
                    job(GraphJobKind::Message, "m1"),
                    job(GraphJobKind::Message, "m1")
                ])
                .await?
                == 1
        );
        ensure!(
            store
                .enqueue_graph_jobs(&[job(GraphJobKind::Missed, "sub-2")])
                .await?
                == 1
        );
        ensure!(
            store
                .commit_delta_round(
                    mailbox.id,
                    "inbox",
                    &["m1".into(), "m2".into()],
                    "link-1",
                    None
                )
                .await?
                == 1
        );
        let cursor = store
            .get_cursor(mailbox.id, "inbox")
            .await?
            .context("cursor")?;
        ensure!(cursor.delta_link.as_deref() == Some("link-1"));
        store
            .commit_delta_baseline(mailbox.id, "inbox", &["old".into()], "link-2", None)
            .await?;
        let claimed = store
            .claim_graph_jobs("w1", None, 10, Duration::from_secs(60))
            .await?;
        ensure!(claimed.len() == 3, "claimed {claimed:?}");
        ensure!(
            store
                .claim_graph_jobs("w2", None, 10, Duration::from_secs(60))
                .await?
                .is_empty(),
            "claimed twice"
        );
        ensure!(
            store
                .claim_graph_jobs("w3", Some("another-replica"), 10, Duration::from_secs(60))
                .await?
                .is_empty()
        );
        let outcomes: Vec<(i64, GraphJobOutcome)> = claimed
            .iter()
            .map(|job| {
                let outcome = match job.kind {
                    GraphJobKind::Missed => GraphJobOutcome::Done,
                    _ if job.item == "m2" => GraphJobOutcome::Retry {
                        next_at: 0,
                        error: "http_503".into(),
                    },
                    _ => GraphJobOutcome::Failed {
                        error: "http_404".into(),
                    },
                };
                (job.id, outcome)
            })
            .collect();
        store.record_graph_job_outcomes(&outcomes).await?;
        let counts = store.graph_job_counts(Some(mailbox.id)).await?;
        ensure!(
            counts.pending == 1 && counts.done == 2 && counts.failed == 1,
            "{counts:?}"
        );
        // The handled lifecycle event can come again.
        ensure!(
            store
                .enqueue_graph_jobs(&[job(GraphJobKind::Missed, "sub-2")])
                .await?
                == 1
        );
        ensure!(store.next_graph_job_due().await?.is_some());
        ensure!(
            store.purge_graph_jobs(i64::MAX).await? == 2,
            "the failed and the baseline rows"
        );
        store
            .set_cursor(
                mailbox.id,
                "inbox",
                &Cursor::Delta {
                    link: "link-3".into(),
                },
            )
            .await?;
        store.forget_graph_mailbox(mailbox.id).await?;
        ensure!(store.graph_subscriptions(mailbox.id).await?.is_empty());
        ensure!(
            store
                .get_secret(state2)
                .await
                .is_err_and(|e| e.is_not_found()),
            "clientState not wiped"
        );
        ensure!(store.graph_job_counts(Some(mailbox.id)).await? == Default::default());
        store.close().await;
    }
    Ok(())
}

/// A panic in a Graph job and one in a Graph mailbox task (injected once each by the debug
/// build's fault injection) are isolated like an IMAP watcher's: the daemon goes on, the task is
/// restarted, the job is retried, and the message still becomes a suggestion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_graph_job_and_in_a_mailbox_task_is_isolated_and_the_mail_still_arrives()
-> Result<()> {
    use tracing_subscriber::util::SubscriberInitExt;
    let buffer = mailsig_tests::log_capture::LogBuffer::default();
    let writer = buffer.clone();
    // Global (the daemon's tasks run on the runtime's threads); nextest gives each test its
    // own process.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()?;
    mailsig_daemon::pipeline::fault_injection::arm_graph_panics();

    let world = GraphWorld::new("panics").await?;
    let daemon = world.start().await?;
    world.link().await?;
    world
        .emulator
        .deliver(&world.email, signed_mail("Jane", "Doe", "partner.example"))
        .await?;
    let suggestions = world.wait_for_suggestions(1, WAIT).await?;
    ensure!(
        suggestions[0].sender_email == "jane.doe@partner.example",
        "{:?}",
        suggestions[0].sender_email
    );
    daemon.stop().await?;
    let logs = buffer.contents();
    for expected in [
        "graph mailbox task panicked; restarting it",
        "graph job panicked; retried later",
    ] {
        ensure!(logs.contains(expected), "no {expected:?} in:\n{logs}");
    }
    ensure!(
        !logs.contains("injected graph"),
        "a panic's message reached the log"
    );
    Ok(())
}

/// The consent URL of the page the "Connect Microsoft 365" form answers with (a refresh and a
/// link on to Microsoft: the pages' CSP, `form-action 'self'`, stops a form redirected there).
fn continue_url(page: &str) -> Result<String> {
    let end = page
        .find(r#"" id="continue-oauth""#)
        .context("no link on to the provider")?;
    let start = page[..end].rfind(r#"href=""#).context("no href")? + r#"href=""#.len();
    ensure!(
        page.contains(r#"<meta http-equiv="refresh" content="0; url="#),
        "the page does not move on by itself"
    );
    // The template escapes `&` in the attribute (askama writes `&#38;`).
    Ok(page[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}
