//! Outlook contacts as a list's connected address book, end to end on the Graph emulator: the
//! opt-in from the API and the pages (refused with a way to consent again while the mailbox's
//! consent lacks contacts; only the owner's own mailbox), accepted contacts written into the
//! chosen folder with their fields, edits made in Outlook read back by the folder's delta and
//! changing the duplicate check's verdict, an edit between read and write answered 412 and
//! merged again without overwriting it, nothing deleted, and no Outlook call for a list that
//! did not opt in.

use crate::api_support::add_suggestion;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::books::BookSettings;
use mailsig_daemon::books::connected::open_outlook;
use mailsig_daemon::books::sync::{self, Pushed};
use mailsig_daemon::books::worker::Worker;
use mailsig_daemon::domain::address_book::{AddressBook, BookEntryId, SyncState};
use mailsig_daemon::sources::graph::Consent;
use mailsig_tests::graph_support::{GraphWorld, RunningDaemon, wait_until};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const FOLDER: &str = "From mailsig";
const WAIT: Duration = Duration::from_secs(20);

/// A Graph world with a running daemon whose book worker runs every 200 ms, and an API token
/// of the list's owner.
struct Rig {
    world: GraphWorld,
    daemon: Option<RunningDaemon>,
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Rig {
    async fn new(tag: &str) -> Result<Rig> {
        let world = GraphWorld::new(tag).await?;
        let books = BookSettings {
            interval: Duration::from_millis(200),
            ..BookSettings::default()
        };
        let daemon = world
            .start_with_books(world.start_options(world.config()?), books)
            .await?;
        let base = format!("http://{}", daemon.addr);
        let token = world
            .store
            .create_token(world.user, "outlook")
            .await?
            .secret
            .expose_secret()
            .to_owned();
        Ok(Rig {
            world,
            daemon: Some(daemon),
            http: reqwest::Client::new(),
            base,
            token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await?;
        let status = reply.status().as_u16();
        let text = reply.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn opt_in(&self, mailbox: i64) -> Result<(u16, Value)> {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v1/lists/{}/book/outlook", self.world.list.0),
            Some(json!({"mailbox": mailbox, "folder": FOLDER})),
        )
        .await
    }

    async fn accept(&self, id: i64) -> Result<()> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/suggestions/{id}/accept"),
                None,
            )
            .await?;
        ensure!(status == 200, "accept: {status} {body}");
        Ok(())
    }

    /// The duplicate check's verdict on the suggestion from `sender`, as the API shows it.
    async fn verdict(&self, sender: &str) -> Result<Option<String>> {
        let (_, page) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/lists/{}/suggestions", self.world.list.0),
                None,
            )
            .await?;
        Ok(page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|s| s["sender_email"] == sender))
            .and_then(|s| s["book"]["verdict"].as_str())
            .map(str::to_owned))
    }

    async fn wait_for_verdict(&self, sender: &str, want: &str) -> Result<()> {
        wait_until(WAIT, &format!("{sender} to be {want}"), || async move {
            Ok((self.verdict(sender).await?.as_deref() == Some(want)).then_some(()))
        })
        .await
    }

    /// Graph calls made on contacts so far: method, path and status.
    fn contact_calls(&self) -> Vec<(String, String, u16)> {
        self.world
            .emulator
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("contactFolders") || r.path.contains("/contacts"))
            .map(|r| (r.method, r.path, r.status))
            .collect()
    }

    /// The folder's contact whose e-mail addresses include `email`.
    fn outlook_contact(&self, folder: &str, email: &str) -> Option<Value> {
        self.world
            .emulator
            .contacts(&self.world.email, folder)
            .into_iter()
            .find(|c| {
                c["emailAddresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e["address"] == email))
            })
    }

    async fn stop(&mut self) -> Result<()> {
        match self.daemon.take() {
            Some(daemon) => daemon.stop().await,
            None => Ok(()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outlook_opt_in_needs_the_contacts_consent_and_the_owners_own_mailbox() -> Result<()> {
    let mut rig = Rig::new("outlook-opt-in").await?;
    let w = &rig.world;
    let (mailbox, _) = w.link_for(Consent::Mail).await?;

    // A list without the opt-in: accepted contacts never reach Outlook.
    let eve = add_suggestion(
        &w.store,
        mailbox.id,
        "eve@new.example",
        &[("name", "Eve Newman")],
    )
    .await?;
    rig.accept(eve.0).await?;
    let worker = Worker::new(
        w.store.clone(),
        w.vault.clone(),
        BookSettings::default(),
        "test-replica",
    )
    .with_graph(Some(std::sync::Arc::new(w.config()?)));
    ensure!(worker.round().await? == 0, "a book was synced");
    ensure!(
        rig.contact_calls().is_empty(),
        "Outlook was called: {:?}",
        rig.contact_calls()
    );

    // Consented for mail only: Graph refuses the contacts, and the opt-in says what to do.
    let (status, body) = rig.opt_in(mailbox.id.0).await?;
    ensure!(
        status == 400
            && body["fields"].as_array().is_some_and(|f| f.iter().any(|f| {
                f["field"] == "mailbox"
                    && f["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("consent again for mail and contacts"))
            })),
        "opt-in without the contacts scope: {status} {body}"
    );
    ensure!(w.store.book_of_list(w.list).await?.is_none());
    ensure!(
        !rig.contact_calls()
            .iter()
            .any(|(m, p, _)| m == "POST" && p.contains("contactFolders")),
        "a folder was created without consent"
    );

    // The pages offer consenting again, for mail and contacts.
    let (cookie, csrf) = w.session(w.user).await?;
    let mailbox_field = mailbox.id.0.to_string();
    let page = rig
        .http
        .post(format!("{}/lists/{}/book/outlook", rig.base, w.list.0))
        .header("Cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("mailbox", mailbox_field.as_str()),
            ("folder", FOLDER),
        ])
        .send()
        .await?;
    ensure!(page.status() == 400, "page: {}", page.status());
    let html = page.text().await?;
    ensure!(
        html.contains("id=\"outlook-consent\"")
            && html.contains(&format!(
                "action=\"/lists/{}/book/outlook/consent\"",
                w.list.0
            )),
        "no way to consent again: {html}"
    );
    let page = rig
        .http
        .post(format!(
            "{}/lists/{}/book/outlook/consent",
            rig.base, w.list.0
        ))
        .header("Cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await?;
    ensure!(page.status() == 200, "consent page: {}", page.status());
    let html = page.text().await?;
    ensure!(
        html.contains("read and write your contacts") && html.contains("Contacts.ReadWrite"),
        "the consent page does not ask for contacts: {html}"
    );
    let (status, body) = rig
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/lists/{}/book/outlook/consent", w.list.0),
            None,
        )
        .await?;
    let authorize = body["authorize_url"].as_str().unwrap_or_default();
    let consent = url::Url::parse(authorize).context("authorize url")?;
    ensure!(
        status == 200
            && consent
                .query_pairs()
                .any(|(k, v)| k == "scope" && v.contains("Contacts.ReadWrite")),
        "consent: {status} {body}"
    );

    // Only the owner's own mailbox: another user's list cannot use it.
    let stranger = w
        .store
        .create_user(
            &format!("stranger-{}@mycorp.example", rand::random::<u32>()),
            None,
        )
        .await?;
    let their_list = w.store.create_list(stranger.id, "Theirs").await?;
    let their_token = w.store.create_token(stranger.id, "t").await?;
    let reply = rig
        .http
        .put(format!(
            "{}/api/v1/lists/{}/book/outlook",
            rig.base, their_list.id.0
        ))
        .bearer_auth(their_token.secret.expose_secret())
        .json(&json!({"mailbox": mailbox.id.0, "folder": FOLDER}))
        .send()
        .await?;
    let status = reply.status().as_u16();
    let text = reply.text().await?;
    ensure!(
        status == 400 && text.contains("choose one of your linked Microsoft 365 mailboxes"),
        "another's mailbox: {status} {text}"
    );

    // Consented again with contacts: the opt-in creates the folder and connects the list.
    let (again, _) = w.link_for(Consent::MailAndContacts).await?;
    ensure!(again.id == mailbox.id, "re-consent keeps the mailbox");
    let (status, state) = rig.opt_in(mailbox.id.0).await?;
    ensure!(status == 200, "opt-in: {status} {state}");
    ensure!(
        state["connected"] == true
            && state["book"]["kind"] == "outlook"
            && state["book"]["name"] == FOLDER
            && state["book"]["user"] == w.email.as_str()
            && state["book"]["mailbox"] == mailbox.id.0,
        "{state}"
    );
    let folder = w.emulator.contact_folder(&w.email, FOLDER)?;
    let stored = w.store.book_of_list(w.list).await?.context("not stored")?;
    ensure!(
        stored.secret.is_none() && stored.settings.contains(&folder),
        "{}",
        stored.settings
    );
    let audited = w
        .store
        .audit_log(100)
        .await?
        .into_iter()
        .filter(|a| {
            a.action == mailsig_daemon::domain::AuditAction::BookConnect
                && a.actor == Some(w.user)
                && a.object_id == Some(w.list.0)
                && a.detail.as_deref() == Some("outlook")
        })
        .count();
    ensure!(audited == 1, "the opt-in audited {audited} times");

    // The connected folder receives the contact accepted before the opt-in.
    let (r, folder) = (&rig, folder.as_str());
    wait_until(WAIT, "Eve in the Outlook folder", || async move {
        Ok(r.outlook_contact(folder, "eve@new.example"))
    })
    .await?;
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_contacts_receive_accepted_contacts_and_are_read_back_never_overwritten()
-> Result<()> {
    let mut rig = Rig::new("outlook-sync").await?;
    let w = &rig.world;
    let (mailbox, _) = w.link_for(Consent::MailAndContacts).await?;
    // The user's folder already holds Ann and Frank, made in Outlook.
    let folder = w.emulator.contact_folder(&w.email, FOLDER)?;
    let ann = w.emulator.add_contact(
        &w.email,
        &folder,
        json!({"displayName": "Ann Other", "companyName": "Acme",
               "emailAddresses": [{"address": "ann@acme.example", "name": "Ann Other"}]}),
    )?;
    let frank = w.emulator.add_contact(
        &w.email,
        &folder,
        json!({"displayName": "Frank Ford", "jobTitle": "Chief Technology Officer",
               "emailAddresses": [{"address": "frank@frankco.example"}]}),
    )?;
    add_suggestion(
        &w.store,
        mailbox.id,
        "ann@acme.example",
        &[("name", "Ann Other")],
    )
    .await?;
    let (status, state) = rig.opt_in(mailbox.id.0).await?;
    ensure!(status == 200, "opt-in: {status} {state}");
    // The folder is read: Ann is a known contact.
    rig.wait_for_verdict("ann@acme.example", "exists").await?;

    // Eve is accepted: she is created in the folder with her fields.
    let eve = add_suggestion(
        &w.store,
        mailbox.id,
        "eve@new.example",
        &[
            ("name", "Eve Newman"),
            ("company", "Newco"),
            ("title", "Buyer"),
            ("phone", "+49301234567"),
        ],
    )
    .await?;
    rig.accept(eve.0).await?;
    let (r, folder_id) = (&rig, folder.as_str());
    let written = wait_until(WAIT, "Eve in the Outlook folder", || async move {
        Ok(r.outlook_contact(folder_id, "eve@new.example"))
    })
    .await?;
    ensure!(
        written["displayName"] == "Eve Newman"
            && written["givenName"] == "Eve"
            && written["surname"] == "Newman"
            && written["companyName"] == "Newco"
            && written["jobTitle"] == "Buyer"
            && written["businessPhones"] == json!(["+49301234567"]),
        "{written}"
    );
    let eve_id = written["id"].as_str().context("Eve's id")?.to_owned();

    // Eve's private address and mobile number are added in Outlook: read back, a suggestion
    // from that address is a known contact, one with that number a possible duplicate.
    w.emulator.edit_contact(
        &w.email,
        &eve_id,
        json!({"mobilePhone": "+49 170 7654321",
               "emailAddresses": [{"address": "eve@new.example"},
                                  {"address": "eve.private@home.example"}]}),
    )?;
    add_suggestion(
        &w.store,
        mailbox.id,
        "eve.private@home.example",
        &[("name", "Eve Newman")],
    )
    .await?;
    add_suggestion(
        &w.store,
        mailbox.id,
        "assistant@elsewhere.example",
        &[("name", "Olga Brandt"), ("phone", "+491707654321")],
    )
    .await?;
    rig.wait_for_verdict("eve.private@home.example", "exists")
        .await?;
    rig.wait_for_verdict("assistant@elsewhere.example", "possible_duplicate")
        .await?;
    // Frank is in the index as the folder had him.
    let frank_entry = &BookEntryId(frank.clone());
    wait_until(WAIT, "Frank in the index", || async move {
        Ok(w.store.book_entry(w.list, frank_entry).await?)
    })
    .await?;

    // From here on the daemon is stopped: the write below is the only one.
    rig.stop().await?;
    let w = &rig.world;
    // Frank is edited in Outlook after the index read him: the write meets a 412, reads him
    // again and merges on top of the edit.
    w.emulator.edit_contact(
        &w.email,
        &frank,
        json!({"companyName": "Frankco Ltd", "department": "Research"}),
    )?;
    let franks = add_suggestion(
        &w.store,
        mailbox.id,
        "frank@frankco.example",
        &[
            ("name", "Frank Ford"),
            ("company", "Frankco"),
            ("title", "CTO"),
            ("phone", "+49307654321"),
        ],
    )
    .await?;
    let book = w.store.book_of_list(w.list).await?.context("book")?;
    let adapter = open_outlook(&w.store, &w.vault, Some(&w.config()?), &book)
        .await
        .map_err(|e| anyhow::anyhow!("open: {e}"))?;
    let suggestion = w.store.get_suggestion(franks).await?;
    let pushed = sync::push(&w.store, &adapter, &suggestion, None)
        .await
        .map_err(|e| anyhow::anyhow!("push: {e}"))?;
    ensure!(pushed == Pushed::Updated { conflicts: 1 }, "{pushed:?}");
    ensure!(
        rig.contact_calls()
            .iter()
            .any(|(m, p, s)| m == "PATCH" && p.contains(&frank) && *s == 412),
        "no 412: {:?}",
        rig.contact_calls()
    );
    let now = rig
        .outlook_contact(&folder, "frank@frankco.example")
        .context("Frank is gone")?;
    ensure!(
        now["companyName"] == "Frankco Ltd"
            && now["department"] == "Research"
            && now["jobTitle"] == "Chief Technology Officer"
            && now["displayName"] == "Frank Ford"
            && now["businessPhones"] == json!(["+49307654321"]),
        "the Outlook edit was overwritten or a field blanked: {now}"
    );

    // Nothing was deleted: the user's contacts and Eve are all there.
    let contacts = w.emulator.contacts(&w.email, &folder);
    ensure!(
        contacts.len() == 3
            && [&ann, &frank, &eve_id]
                .iter()
                .all(|id| contacts.iter().any(|c| c["id"] == id.as_str())),
        "{contacts:?}"
    );
    ensure!(
        !rig.contact_calls().iter().any(|(m, _, _)| m == "DELETE"),
        "a contact was deleted"
    );

    // A delta link Graph no longer knows (410) starts a full listing of the folder.
    let forgotten = SyncState(Some(format!(
        "{}/me/contactFolders/{folder}/contacts/delta?$deltatoken=forgotten",
        w.emulator.graph_url().trim_end_matches('/')
    )));
    let listed = adapter
        .changes(&forgotten)
        .await
        .map_err(|e| anyhow::anyhow!("changes: {e}"))?;
    ensure!(
        listed.complete && listed.changed.len() == 3 && listed.state.0.is_some(),
        "{listed:?}"
    );
    ensure!(
        rig.contact_calls()
            .iter()
            .any(|(m, p, s)| m == "GET" && p.contains("deltatoken=forgotten") && *s == 410),
        "the forgotten link was not refused"
    );
    Ok(())
}
