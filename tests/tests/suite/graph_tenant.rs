//! The tenant-wide Microsoft 365 rollout end to end: an org admin grants access for the
//! organisation through the admin page and Microsoft's admin-consent page (the Graph emulator's,
//! over real HTTP redirects), links a mail-enabled group, and the daemon follows the group's
//! membership with Graph's delta on members: every member's mailbox is linked app-only, owned by
//! the member and delivering into a list of theirs; a member who leaves is unlinked and wiped; a
//! member who joins is linked and their first message becomes a suggestion. People chosen one by
//! one are linked the same way, and unlinked with their mailbox unless a linked group counts them.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::domain::{AuditAction, OrgRole};
use mailsig_daemon::sources::graph::GraphSettings;
use mailsig_daemon::store::{Mailbox, MailboxFilter, MailboxKind, SuggestionFilter};
use mailsig_tests::graph_support::{CLIENT_ID, CLIENT_SECRET, GraphWorld, RunningDaemon};
use mailsig_tests::graph_support::{signed_mail, wait_until};

const WAIT: Duration = Duration::from_secs(30);
/// The application permissions the app registration asks for.
const APP_PERMISSIONS: [&str; 3] = ["Mail.Read", "GroupMember.Read.All", "User.Read.All"];

/// A daemon with an org admin signed in, the app registered for admin consent, and membership
/// rounds every 300 ms.
struct Rollout {
    world: GraphWorld,
    daemon: RunningDaemon,
    /// The admin's browser: session cookie and CSRF token.
    cookie: String,
    csrf: String,
    http: reqwest::Client,
}

impl Rollout {
    async fn new(tag: &str) -> Result<Rollout> {
        Rollout::with_rounds_every(tag, Duration::from_millis(300)).await
    }

    async fn with_rounds_every(tag: &str, membership_interval: Duration) -> Result<Rollout> {
        let world = GraphWorld::new(tag).await?;
        world.emulator.register_app(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!(
                "http://127.0.0.1:{}/oauth/microsoft/admin-consent",
                world.port
            ),
        );
        for permission in APP_PERMISSIONS {
            world
                .emulator
                .declare_application_permission(CLIENT_ID, permission);
        }
        world.store.set_org_role(world.user, OrgRole::Admin).await?;
        let (cookie, csrf) = world.session(world.user).await?;
        let mut config = world.config()?;
        config.membership_interval = membership_interval;
        let daemon = world.start_with(world.start_options(config)).await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Rollout {
            world,
            daemon,
            cookie,
            csrf,
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.world.port)
    }

    /// GETs a page of the daemon in the admin's browser: status, `Location`, body.
    async fn get(&self, url: &str, cookie: Option<&str>) -> Result<(u16, String, String)> {
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        answer(request.send().await?).await
    }

    /// POSTs a form of the admin page with the session's CSRF token.
    async fn post(
        &self,
        path: &str,
        cookie: &str,
        csrf: &str,
        pairs: &[(&str, &str)],
    ) -> Result<(u16, String, String)> {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf)];
        form.extend_from_slice(pairs);
        let response = self
            .http
            .post(self.url(path))
            .header(reqwest::header::COOKIE, cookie)
            .form(&form)
            .send()
            .await?;
        answer(response).await
    }

    /// Calls the admin API in the admin's session: status and body.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, String)> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, body) = answer(request.send().await?).await?;
        Ok((status, body))
    }

    /// Starts an admin consent from the admin page and follows the browser to Microsoft's
    /// admin-consent page; returns where Microsoft sends the browser back to.
    async fn consent_at_microsoft(&self) -> Result<String> {
        let (status, _, page) = self
            .post(
                "/admin/microsoft-365/consent",
                &self.cookie,
                &self.csrf,
                &[],
            )
            .await?;
        ensure!(status == 200, "consent start answered {status}: {page}");
        let url = continue_url(&page)?;
        ensure!(
            url.starts_with(&format!(
                "{}/common/v2.0/adminconsent?",
                self.world.emulator.base_url()
            )),
            "{url}"
        );
        let (status, back, body) = self.get(&url, None).await?;
        ensure!(
            matches!(status, 302 | 303),
            "adminconsent {url} answered {status}: {body}"
        );
        ensure!(
            back.starts_with(&self.url("/oauth/microsoft/admin-consent?")),
            "back to {back}"
        );
        Ok(back)
    }

    /// The whole admin consent: returns where the daemon sends the admin's browser afterwards.
    async fn grant_consent(&self) -> Result<String> {
        let back = self.consent_at_microsoft().await?;
        let (status, location, _) = self.get(&back, Some(&self.cookie)).await?;
        ensure!(status == 303, "admin consent callback answered {status}");
        Ok(location)
    }

    /// The active app-only mailbox linked for `email`, if any.
    async fn mailbox_of(&self, email: &str) -> Result<Option<Mailbox>> {
        let filter = MailboxFilter {
            owner: None,
            kind: Some(MailboxKind::Graph),
        };
        Ok(self
            .world
            .store
            .list_mailboxes(&filter)
            .await?
            .into_iter()
            .find(|m| m.address.eq_ignore_ascii_case(email)))
    }

    /// Waits until `email`'s mailbox is linked and its subscription stored (mail that arrives
    /// from then on is read).
    async fn wait_linked(&self, email: &str) -> Result<Mailbox> {
        wait_until(WAIT, &format!("{email}'s mailbox linked"), || async move {
            let Some(mailbox) = self.mailbox_of(email).await? else {
                return Ok(None);
            };
            let subscribed = !self
                .world
                .store
                .graph_subscriptions(mailbox.id)
                .await?
                .is_empty();
            Ok(subscribed.then_some(mailbox))
        })
        .await
    }

    /// Delivers a signed message to `email` and waits for its suggestion in the mailbox's list.
    async fn suggestion_arrives(&self, email: &str, mailbox: &Mailbox, last: &str) -> Result<()> {
        self.world
            .emulator
            .deliver(email, signed_mail("Pat", last, "partner.example"))
            .await?;
        let sender = format!("pat.{}@partner.example", last.to_lowercase());
        wait_until(WAIT, &format!("the suggestion of {sender}"), || {
            let sender = sender.clone();
            async move {
                let found = self
                    .world
                    .store
                    .list_suggestions(mailbox.target_list, &SuggestionFilter::default())
                    .await?
                    .into_iter()
                    .any(|s| s.sender_email == sender);
                Ok(found.then_some(()))
            }
        })
        .await
    }
}

async fn answer(response: reqwest::Response) -> Result<(u16, String, String)> {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((status, location, response.text().await.unwrap_or_default()))
}

/// The link of the page that moves the browser on to Microsoft.
fn continue_url(page: &str) -> Result<String> {
    let anchor = page
        .find("id=\"continue-consent\"")
        .context("no continue link")?;
    let start = page[..anchor].rfind("href=\"").context("no href")? + "href=\"".len();
    let end = start + page[start..].find('"').context("unterminated href")?;
    Ok(page[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_linked_app_only_and_its_membership_is_followed() -> Result<()> {
    let rollout = Rollout::new("tenant").await?;
    let world = &rollout.world;
    let tag = rand::random::<u32>();
    let [alice, bob, carol, dave] =
        ["alice", "bob", "carol", "dave"].map(|n| format!("{n}-{tag}@contoso.test"));
    let group = world.emulator.add_group(
        &format!("sales-{tag}@contoso.test"),
        "Sales",
        &[alice.as_str(), bob.as_str(), carol.as_str()],
    );
    // Carol has an account already; Alice and Bob get one.
    let carol_account = world.store.create_user(&carol.to_uppercase(), None).await?;

    let location = rollout.grant_consent().await?;
    ensure!(
        location == "/admin/microsoft-365?done=consented",
        "{location}"
    );
    let grant = world.store.tenant_grant().await?.context("no grant")?;
    ensure!(grant.tenant_id == world.emulator.tenant_id(), "{grant:?}");
    ensure!(
        world.emulator.granted_app_roles(CLIENT_ID)
            == ["groupmember.read.all", "mail.read", "user.read.all"],
        "{:?}",
        world.emulator.granted_app_roles(CLIENT_ID)
    );
    let (_, _, page) = rollout
        .get(&rollout.url("/admin/microsoft-365"), Some(&rollout.cookie))
        .await?;
    ensure!(page.contains(&grant.tenant_id), "the page names the tenant");

    let group_mail = format!("SALES-{tag}@contoso.test");
    let (status, location, body) = rollout
        .post(
            "/admin/microsoft-365/groups",
            &rollout.cookie,
            &rollout.csrf,
            &[("group", &group_mail)],
        )
        .await?;
    ensure!(status == 303, "link group answered {status}: {body}");
    ensure!(location == "/admin/microsoft-365?done=linked", "{location}");
    let linked = world.store.tenant_groups().await?;
    ensure!(
        linked.len() == 1 && linked[0].group_id == group,
        "{linked:?}"
    );

    // Three mailboxes, each owned by its member, read app-only, delivering into a list of theirs.
    let mut mailboxes = Vec::new();
    for (email, last) in [(&alice, "Alpha"), (&bob, "Bravo"), (&carol, "Charlie")] {
        let mailbox = rollout.wait_linked(email).await?;
        let owner = world.store.user_by_email(email).await?;
        ensure!(mailbox.owner == owner.id, "{email}'s mailbox is theirs");
        ensure!(
            world.store.lists_owned_by(owner.id).await? == vec![mailbox.target_list],
            "{email}'s mailbox delivers into their list"
        );
        ensure!(mailbox.secret.is_none(), "no per-mailbox tokens");
        let settings = GraphSettings::from_json(&mailbox.settings)?;
        ensure!(
            GraphSettings::is_app_only(&mailbox.settings),
            "{settings:?}"
        );
        rollout.suggestion_arrives(email, &mailbox, last).await?;
        mailboxes.push(mailbox);
    }
    ensure!(
        mailboxes[2].owner == carol_account.id,
        "Carol's own account"
    );
    // Alice sees her mailbox as managed by the organisation, with nothing to consent to.
    let (alice_cookie, _) = world.session(mailboxes[0].owner).await?;
    let (status, _, page) = rollout
        .get(
            &rollout.url(&format!("/mailboxes/{}", mailboxes[0].id.0)),
            Some(&alice_cookie),
        )
        .await?;
    ensure!(status == 200, "Alice's mailbox page answered {status}");
    ensure!(
        page.contains("id=\"managed-by-organisation\"") && !page.contains("id=\"consent-again\""),
        "{page}"
    );
    // Alice cannot consent to her managed mailbox herself: the organisation's link stays.
    let config = world.config()?;
    let consent = mailsig_daemon::sources::graph::start_linking_for(
        &world.store,
        &world.vault,
        &config,
        mailboxes[0].owner,
        mailboxes[0].target_list,
        mailsig_daemon::sources::graph::LinkOrigin::Cli,
        mailsig_daemon::sources::graph::Consent::Mail,
    )
    .await?;
    let callback = world.emulator.consent(consent.as_str(), &alice).await?;
    let (status, _, page) = rollout.get(&callback, None).await?;
    ensure!(
        status == 409 && page.contains("managed by your organisation"),
        "personal consent answered {status}: {page}"
    );
    let after = rollout
        .mailbox_of(&alice)
        .await?
        .context("Alice's mailbox")?;
    ensure!(
        after.id == mailboxes[0].id && after.secret.is_none(),
        "still the organisation's mailbox, without personal tokens"
    );
    // The admin API says the same.
    let (status, _, body) = rollout
        .get(
            &rollout.url("/api/v1/admin/microsoft-365"),
            Some(&rollout.cookie),
        )
        .await?;
    ensure!(status == 200, "overview answered {status}: {body}");
    let overview: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(
        overview["grant"]["tenant_id"] == grant.tenant_id.as_str()
            && overview["groups"][0]["group_id"] == group.as_str()
            && overview["groups"][0]["members"] == 3,
        "{overview}"
    );
    let watched = world.emulator.subscriptions();
    ensure!(
        watched
            .iter()
            .filter(|s| s.resource.starts_with("users/"))
            .count()
            == 3,
        "{watched:?}"
    );

    // Bob leaves: his mailbox is stopped, unlinked and wiped; his account and list stay.
    let bob_mailbox = mailboxes[1].clone();
    world.emulator.remove_group_member(&group, &bob)?;
    wait_until(WAIT, "Bob's mailbox unlinked", || async {
        Ok(rollout.mailbox_of(&bob).await?.is_none().then_some(()))
    })
    .await?;
    let source = rollout.daemon.supervisor.graph().context("graph source")?;
    ensure!(
        source.runtime(bob_mailbox.id).is_none(),
        "Bob's mailbox task stopped"
    );
    ensure!(
        world
            .store
            .graph_subscriptions(bob_mailbox.id)
            .await?
            .is_empty(),
        "Bob's subscriptions and clientStates wiped"
    );
    ensure!(
        !world.emulator.subscriptions().iter().any(|s| s.user == bob),
        "Bob's subscription deleted at Graph"
    );
    let bob_account = world.store.user_by_email(&bob).await?;
    ensure!(
        world.store.lists_owned_by(bob_account.id).await? == vec![bob_mailbox.target_list],
        "Bob's list stays"
    );
    ensure!(
        rollout.mailbox_of(&alice).await?.is_some() && rollout.mailbox_of(&carol).await?.is_some(),
        "the others stay linked"
    );

    // Dave joins: linked, and his first message becomes a suggestion in his list.
    world.emulator.add_group_member(&group, &dave);
    let dave_mailbox = rollout.wait_linked(&dave).await?;
    let dave_account = world.store.user_by_email(&dave).await?;
    ensure!(dave_mailbox.owner == dave_account.id);
    rollout
        .suggestion_arrives(&dave, &dave_mailbox, "Delta")
        .await?;
    let members = world.store.tenant_members(linked[0].id).await?;
    ensure!(members.len() == 3, "{members:?}");
    rollout.daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_user_is_linked_app_only_and_unlinked_with_their_mailbox() -> Result<()> {
    let rollout = Rollout::new("tenant-users").await?;
    let world = &rollout.world;
    let tag = rand::random::<u32>();
    let frank = format!("frank-{tag}@contoso.test");
    let frank_id = world.emulator.add_user(&frank, "Frank");
    rollout.grant_consent().await?;

    // An address the tenant does not know is refused on its field; nothing is linked.
    let unknown = format!("nobody-{tag}@contoso.test");
    let (status, _, page) = rollout
        .post(
            "/admin/microsoft-365/users",
            &rollout.cookie,
            &rollout.csrf,
            &[("user", &unknown)],
        )
        .await?;
    ensure!(
        status == 400
            && page.contains("id=\"user-error\"")
            && page.contains("no such user in the organisation")
            && page.contains(&format!("value=\"{unknown}\"")),
        "unknown user answered {status}: {page}"
    );
    let (status, body) = rollout
        .api(
            reqwest::Method::POST,
            "/api/v1/admin/microsoft-365/users",
            Some(serde_json::json!({"user": unknown})),
        )
        .await?;
    let refused: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(
        status == 400 && refused["fields"][0]["field"] == "user",
        "API answered {status}: {body}"
    );
    ensure!(world.store.tenant_users().await?.is_empty());

    // Frank, chosen by address on the page: his mailbox is linked app-only, owned by an account
    // made for him, and his message becomes a suggestion in his own list.
    let (status, location, body) = rollout
        .post(
            "/admin/microsoft-365/users",
            &rollout.cookie,
            &rollout.csrf,
            &[("user", &frank.to_uppercase())],
        )
        .await?;
    ensure!(status == 303, "choose user answered {status}: {body}");
    ensure!(
        location == "/admin/microsoft-365?done=user-linked",
        "{location}"
    );
    let mailbox = rollout.wait_linked(&frank).await?;
    let owner = world.store.user_by_email(&frank).await?;
    ensure!(mailbox.owner == owner.id, "Frank's mailbox is his");
    ensure!(
        world.store.lists_owned_by(owner.id).await? == vec![mailbox.target_list],
        "Frank's mailbox delivers into his list"
    );
    let settings = GraphSettings::from_json(&mailbox.settings)?;
    ensure!(
        GraphSettings::is_app_only(&mailbox.settings) && settings.user_id == frank_id,
        "{settings:?}"
    );
    ensure!(mailbox.secret.is_none(), "no per-mailbox tokens");
    rollout
        .suggestion_arrives(&frank, &mailbox, "Foxtrot")
        .await?;
    let chosen = world.store.tenant_users().await?;
    ensure!(
        chosen.len() == 1 && chosen[0].mailbox == mailbox.id,
        "{chosen:?}"
    );
    let (_, _, page) = rollout
        .get(&rollout.url("/admin/microsoft-365"), Some(&rollout.cookie))
        .await?;
    ensure!(
        page.contains(&format!("id=\"user-{}\"", chosen[0].id.0)) && page.contains(&frank),
        "the page lists Frank"
    );
    let (status, body) = rollout
        .api(reqwest::Method::GET, "/api/v1/admin/microsoft-365", None)
        .await?;
    let overview: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && overview["users"][0]["graph_user_id"] == frank_id.as_str(),
        "{overview}"
    );
    let audit = world.store.audit_log(50).await?;
    ensure!(
        audit.iter().any(|e| e.action == AuditAction::TenantUserLink
            && e.actor == Some(world.user)
            && e.object_id == Some(chosen[0].id.0)),
        "the link is audited naming the admin"
    );

    // Gina is a member of a linked group and chosen too: unlinking her as a chosen user keeps
    // the mailbox the group counts.
    let gina = format!("gina-{tag}@contoso.test");
    let group_mail = format!("support-{tag}@contoso.test");
    world
        .emulator
        .add_group(&group_mail, "Support", &[gina.as_str()]);
    let (status, body) = rollout
        .api(
            reqwest::Method::POST,
            "/api/v1/admin/microsoft-365/groups",
            Some(serde_json::json!({"group": group_mail})),
        )
        .await?;
    ensure!(status == 201, "link group answered {status}: {body}");
    let gina_mailbox = rollout.wait_linked(&gina).await?;
    let (status, body) = rollout
        .api(
            reqwest::Method::POST,
            "/api/v1/admin/microsoft-365/users",
            Some(serde_json::json!({"user": gina})),
        )
        .await?;
    ensure!(status == 201, "choose Gina answered {status}: {body}");
    let gina_chosen: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(
        gina_chosen["mailbox"] == gina_mailbox.id.0,
        "Gina's one mailbox: {gina_chosen}"
    );
    let (status, body) = rollout
        .api(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/admin/microsoft-365/users/{}",
                gina_chosen["id"].as_i64().context("id")?
            ),
            None,
        )
        .await?;
    ensure!(status == 204, "unlink Gina answered {status}: {body}");
    ensure!(
        rollout.mailbox_of(&gina).await?.map(|m| m.id) == Some(gina_mailbox.id),
        "the group still counts Gina: her mailbox stays"
    );

    // Frank unlinked through the API: his task stops and his mailbox is unlinked and wiped; his
    // account and list stay.
    let (status, body) = rollout
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/microsoft-365/users/{}", chosen[0].id.0),
            None,
        )
        .await?;
    ensure!(status == 204, "unlink Frank answered {status}: {body}");
    ensure!(
        rollout.mailbox_of(&frank).await?.is_none(),
        "Frank's mailbox unlinked"
    );
    let source = rollout.daemon.supervisor.graph().context("graph source")?;
    wait_until(WAIT, "Frank's mailbox task stopped", || async {
        Ok(source.runtime(mailbox.id).is_none().then_some(()))
    })
    .await?;
    ensure!(
        world
            .store
            .graph_subscriptions(mailbox.id)
            .await?
            .is_empty(),
        "Frank's subscriptions and clientStates wiped"
    );
    ensure!(
        !world
            .emulator
            .subscriptions()
            .iter()
            .any(|s| s.user == frank),
        "Frank's subscription deleted at Graph"
    );
    ensure!(
        world.store.lists_owned_by(owner.id).await? == vec![mailbox.target_list],
        "Frank's list stays"
    );
    ensure!(world.store.tenant_users().await?.is_empty());
    let audit = world.store.audit_log(50).await?;
    ensure!(
        audit
            .iter()
            .any(|e| e.action == AuditAction::TenantUserUnlink
                && e.actor == Some(world.user)
                && e.object_id == Some(chosen[0].id.0)),
        "the unlink is audited naming the admin"
    );
    let (status, _) = rollout
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/microsoft-365/users/{}", chosen[0].id.0),
            None,
        )
        .await?;
    ensure!(status == 404, "unlinking twice answered {status}");
    rollout.daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_a_group_links_its_members_at_once_whatever_the_interval() -> Result<()> {
    let rollout = Rollout::with_rounds_every("tenant-wake", Duration::from_secs(3600)).await?;
    let world = &rollout.world;
    let member = format!("erin-{}@contoso.test", rand::random::<u32>());
    let group_mail = format!("ops-{}@contoso.test", rand::random::<u32>());
    world
        .emulator
        .add_group(&group_mail, "Ops", &[member.as_str()]);
    rollout.grant_consent().await?;
    let (status, _, body) = rollout
        .post(
            "/admin/microsoft-365/groups",
            &rollout.cookie,
            &rollout.csrf,
            &[("group", &group_mail)],
        )
        .await?;
    ensure!(status == 303, "link group answered {status}: {body}");
    let mailbox = rollout.wait_linked(&member).await?;
    rollout
        .suggestion_arrives(&member, &mailbox, "Echo")
        .await?;
    rollout.daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_membership_sync_state_starts_over_and_unlinks_who_is_gone() -> Result<()> {
    let rollout = Rollout::new("tenant-resync").await?;
    let world = &rollout.world;
    let tag = rand::random::<u32>();
    let [frank, gina] = ["frank", "gina"].map(|n| format!("{n}-{tag}@contoso.test"));
    let group_mail = format!("eng-{tag}@contoso.test");
    let group =
        world
            .emulator
            .add_group(&group_mail, "Engineering", &[frank.as_str(), gina.as_str()]);
    rollout.grant_consent().await?;
    let (status, _, body) = rollout
        .post(
            "/admin/microsoft-365/groups",
            &rollout.cookie,
            &rollout.csrf,
            &[("group", &group)],
        )
        .await?;
    ensure!(status == 303, "link group by id answered {status}: {body}");
    rollout.wait_linked(&frank).await?;
    let gina_mailbox = rollout.wait_linked(&gina).await?;
    // Graph forgets the sync state, and Gina leaves meanwhile: the deltaLink answers 410, the
    // next round lists the members again, and whoever is no longer among them is unlinked.
    let group_delta = |n: usize| {
        world
            .emulator
            .requests()
            .iter()
            .filter(|r| r.path.contains("/groups/delta") && r.status == 410)
            .count()
            >= n
    };
    world
        .emulator
        .remove_group_member_and_expire_sync_state(&group, &gina)?;
    wait_until(
        WAIT,
        "Gina's mailbox unlinked after a full round",
        || async { Ok(rollout.mailbox_of(&gina).await?.is_none().then_some(())) },
    )
    .await?;
    ensure!(group_delta(1), "the expired deltaLink was answered 410");
    ensure!(
        world
            .store
            .graph_subscriptions(gina_mailbox.id)
            .await?
            .is_empty()
    );
    ensure!(
        rollout.mailbox_of(&frank).await?.is_some(),
        "Frank stays linked"
    );
    rollout.daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_declined_admin_consent_is_said_to_the_admin_and_grants_nothing() -> Result<()>
{
    let rollout = Rollout::new("tenant-refused").await?;
    let world = &rollout.world;
    let group_mail = format!("team-{}@contoso.test", rand::random::<u32>());
    world.emulator.add_group(&group_mail, "Team", &[]);

    // Without consent, linking a group says what to do first.
    let (status, _, page) = rollout
        .post(
            "/admin/microsoft-365/groups",
            &rollout.cookie,
            &rollout.csrf,
            &[("group", &group_mail)],
        )
        .await?;
    ensure!(status == 400, "link without consent answered {status}");
    ensure!(
        page.contains("grant access for the organisation first"),
        "{page}"
    );

    // The administrator declines at Microsoft.
    world.emulator.set_refuse_admin_consent(true);
    let location = rollout.grant_consent().await?;
    ensure!(
        location == "/admin/microsoft-365?consent=refused",
        "{location}"
    );
    let (_, _, page) = rollout
        .get(&rollout.url(&location), Some(&rollout.cookie))
        .await?;
    ensure!(page.contains("Access was not granted"), "{page}");
    ensure!(page.contains("Not granted yet"), "{page}");
    ensure!(world.store.tenant_grant().await?.is_none());
    ensure!(world.emulator.granted_app_roles(CLIENT_ID).is_empty());

    // An answer that comes back outside the admin's session completes nothing, and its state
    // is spent.
    world.emulator.set_refuse_admin_consent(false);
    let back = rollout.consent_at_microsoft().await?;
    let (status, location, _) = rollout.get(&back, None).await?;
    ensure!(
        status == 303 && location == "/admin/microsoft-365?consent=expired",
        "{status} {location}"
    );
    let (_, location, _) = rollout.get(&back, Some(&rollout.cookie)).await?;
    ensure!(
        location == "/admin/microsoft-365?consent=expired",
        "a state works once: {location}"
    );
    ensure!(world.store.tenant_grant().await?.is_none());
    rollout.daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_org_admins_reach_the_microsoft_365_admin_routes() -> Result<()> {
    let rollout = Rollout::new("tenant-authz").await?;
    let world = &rollout.world;
    let member = world
        .store
        .create_user(
            &format!("member-{}@mycorp.example", rand::random::<u32>()),
            None,
        )
        .await?;
    let (cookie, csrf) = world.session(member.id).await?;
    let (status, _, _) = rollout
        .get(&rollout.url("/admin/microsoft-365"), Some(&cookie))
        .await?;
    ensure!(status == 403, "page answered {status} to a member");
    for path in [
        "/admin/microsoft-365/consent",
        "/admin/microsoft-365/groups",
        "/admin/microsoft-365/groups/1/unlink",
        "/admin/microsoft-365/users",
        "/admin/microsoft-365/users/1/unlink",
    ] {
        let (status, _, _) = rollout
            .post(
                path,
                &cookie,
                &csrf,
                &[("group", "x@contoso.test"), ("user", "x@contoso.test")],
            )
            .await?;
        ensure!(status == 403, "{path} answered {status} to a member");
    }
    let (status, location, _) = rollout
        .get(&rollout.url("/admin/microsoft-365"), None)
        .await?;
    if status != 303 || !location.starts_with("/sign-in") {
        bail!("signed out: {status} {location}");
    }
    ensure!(world.store.tenant_grant().await?.is_none());
    rollout.daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_s_store_works_on_sqlite_and_postgres() -> Result<()> {
    use mailsig_daemon::store::{NewMailbox, NewTenantUser, Store};
    let dir = tempfile::tempdir()?;
    let urls = [
        Store::sqlite_url(&dir.path().join("t.db")),
        mailsig_tests::servers::fresh_pg_database().await?,
    ];
    for url in urls {
        let store = Store::open(&url).await?;
        store.migrate().await?;
        let admin = store.create_user("admin@mycorp.example", None).await?;
        ensure!(store.tenant_grant().await?.is_none());
        store.set_tenant_grant("tenant-1", Some(admin.id)).await?;
        store.set_tenant_grant("tenant-2", Some(admin.id)).await?;
        let grant = store.tenant_grant().await?.context("grant")?;
        ensure!(
            grant.tenant_id == "tenant-2" && grant.granted_by == Some(admin.id),
            "{grant:?}"
        );

        // An admin consent's state works once, and keeps the session it was started in.
        store
            .put_admin_consent_state("hash", admin.id, 42, Duration::from_secs(60))
            .await?;
        let pending = store.take_admin_consent_state("hash").await?;
        ensure!(pending.user == admin.id && pending.session == 42);
        ensure!(store.take_admin_consent_state("hash").await.is_err());

        let group = store
            .add_tenant_group("g-1", Some("Sales"), Some("sales@contoso.test"), None)
            .await?;
        let again = store.add_tenant_group("g-1", None, None, None).await?;
        ensure!(again.id == group.id, "linking twice keeps one row");
        ensure!(store.claim_tenant_group(group.id, "r1", WAIT).await?);
        ensure!(!store.claim_tenant_group(group.id, "r2", WAIT).await?);
        store.release_tenant_group(group.id, "r1").await?;
        ensure!(store.claim_tenant_group(group.id, "r2", WAIT).await?);
        store
            .set_tenant_group_delta(group.id, "https://graph/delta?t=1")
            .await?;
        ensure!(
            store.tenant_group(group.id).await?.delta_link.as_deref()
                == Some("https://graph/delta?t=1")
        );

        let list = store.create_list(admin.id, "Contacts").await?;
        let mailbox = store
            .create_mailbox(NewMailbox {
                owner: admin.id,
                kind: MailboxKind::Graph,
                address: "m@contoso.test".into(),
                display_name: None,
                target_list: list.id,
                excluded_domains: vec![],
                settings: serde_json::json!({"user_id": "u1", "folders": ["inbox"], "access": "app_only"}),
                secret: None,
            })
            .await?;
        store.add_tenant_member(group.id, "u1", mailbox.id).await?;
        store.add_tenant_member(group.id, "u1", mailbox.id).await?;
        ensure!(store.tenant_members(group.id).await?.len() == 1);
        ensure!(store.tenant_member_references(mailbox.id).await? == 1);
        ensure!(store.remove_tenant_member(group.id, "u1").await? == Some(mailbox.id));
        ensure!(store.remove_tenant_member(group.id, "u1").await?.is_none());
        store.add_tenant_member(group.id, "u1", mailbox.id).await?;
        store.remove_tenant_group(group.id).await?;
        ensure!(store.tenant_groups().await?.is_empty());
        ensure!(store.tenant_member_references(mailbox.id).await? == 0);

        // A chosen user counts the mailbox too, until forgotten.
        let chosen_user = || NewTenantUser {
            graph_user_id: "u1",
            display_name: Some("M"),
            mail: Some("m@contoso.test"),
            mailbox: mailbox.id,
            linked_by: Some(admin.id),
        };
        let chosen = store.add_tenant_user(chosen_user()).await?;
        let again = store.add_tenant_user(chosen_user()).await?;
        ensure!(again.id == chosen.id, "choosing twice keeps one row");
        ensure!(store.tenant_users().await? == vec![chosen.clone()]);
        ensure!(store.tenant_member_references(mailbox.id).await? == 1);
        // Chosen again after the mailbox was unlinked by its owner: the new mailbox counts.
        let relinked = store
            .create_mailbox(NewMailbox {
                owner: admin.id,
                kind: MailboxKind::Graph,
                address: "m@contoso.test".into(),
                display_name: None,
                target_list: list.id,
                excluded_domains: vec![],
                settings: serde_json::json!({"user_id": "u1", "folders": ["inbox"], "access": "app_only"}),
                secret: None,
            })
            .await?;
        let moved = store
            .add_tenant_user(NewTenantUser {
                mailbox: relinked.id,
                ..chosen_user()
            })
            .await?;
        ensure!(
            moved.id == chosen.id && moved.mailbox == relinked.id,
            "{moved:?}"
        );
        ensure!(store.tenant_member_references(mailbox.id).await? == 0);
        let chosen = store.add_tenant_user(chosen_user()).await?;
        ensure!(store.remove_tenant_user(chosen.id).await?.mailbox == mailbox.id);
        ensure!(store.remove_tenant_user(chosen.id).await.is_err());
        ensure!(store.tenant_member_references(mailbox.id).await? == 0);
    }
    Ok(())
}
