//! Outlook contacts through the daemon's Graph adapter against the Graph emulator over real
//! HTTP: the scope a list's opt-in asks for, contact folders, create, `PATCH` with `If-Match`,
//! a concurrent edit answered 412, and the folder's delta read back from its deltaLink.

use anyhow::{Context, Result, ensure};
use mailsig_daemon::sources::graph::Consent;
use mailsig_daemon::sources::graph::contacts::{contacts_api, find_or_create_folder};
use mailsig_tests::graph_support::GraphWorld;
use serde_json::json;

fn etag(contact: &serde_json::Map<String, serde_json::Value>) -> Result<String> {
    contact
        .get("@odata.etag")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .context("contact without @odata.etag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_contacts_need_the_contacts_scope_and_refuse_a_stale_if_match() -> Result<()> {
    let world = GraphWorld::new("contacts").await?;
    let daemon = world.start().await?;
    let config = world.config()?;

    // Linked for mail only: Graph refuses the contacts.
    let (mailbox, _) = world.link_for(Consent::Mail).await?;
    let api = contacts_api(&world.store, &world.vault, &config, mailbox.id).await?;
    let refused = api.contact_folders().await;
    ensure!(
        matches!(
            &refused,
            Err(mailsig_daemon::sources::graph::GraphError::Status { status: 403, .. })
        ),
        "contacts without Contacts.ReadWrite: {refused:?}"
    );

    // Consent again with the contacts scope (a list opting in asks for it).
    let (again, _) = world.link_for(Consent::MailAndContacts).await?;
    ensure!(again.id == mailbox.id, "re-consent keeps the mailbox");
    let api = contacts_api(&world.store, &world.vault, &config, mailbox.id).await?;
    let folder = find_or_create_folder(&api, "From mailsig").await?;
    ensure!(
        world
            .emulator
            .contact_folder(&world.email, "From mailsig")?
            == folder.id,
        "the folder exists at Graph"
    );
    let same = find_or_create_folder(&api, "From mailsig").await?;
    ensure!(same.id == folder.id, "an existing folder is reused");

    // First delta round: empty folder, a deltaLink.
    let first = api.contacts_delta_page(&folder.id, None).await?;
    ensure!(first.changed.is_empty() && first.removed.is_empty());
    let link = first
        .delta_link
        .context("first round ends with a deltaLink")?;

    // Create, then update with the current ETag.
    let created = api
        .create_contact(
            &folder.id,
            &json!({
                "displayName": "Rachel Kim",
                "givenName": "Rachel",
                "surname": "Kim",
                "companyName": "Northwind Traders",
                "emailAddresses": [{ "address": "rachel.kim@northwind.test", "name": "Rachel Kim" }],
            }),
        )
        .await?;
    let id = created
        .get("id")
        .and_then(|v| v.as_str())
        .context("created contact id")?
        .to_owned();
    let etag1 = etag(&created)?;
    let updated = api
        .update_contact(
            &folder.id,
            &id,
            &etag1,
            &json!({ "jobTitle": "Logistics Manager" }),
        )
        .await?;
    let etag2 = etag(&updated)?;
    ensure!(etag2 != etag1, "an update gives a new ETag");
    ensure!(
        updated.get("companyName") == Some(&json!("Northwind Traders")),
        "a PATCH keeps what it does not name"
    );

    // The user edits the contact in Outlook: the old ETag no longer matches.
    world.emulator.edit_contact(
        &world.email,
        &id,
        json!({ "jobTitle": "Head of Logistics" }),
    )?;
    let stale = api
        .update_contact(
            &folder.id,
            &id,
            &etag2,
            &json!({ "jobTitle": "Logistics Manager" }),
        )
        .await;
    ensure!(
        stale.as_ref().is_err_and(|e| e.is_precondition_failed()),
        "a stale If-Match is refused with 412: {stale:?}"
    );
    let now = api.contact(&folder.id, &id).await?;
    ensure!(
        now.get("jobTitle") == Some(&json!("Head of Logistics")),
        "the user's edit stands"
    );

    // Delta from the link: the created-and-edited contact once, as it is now.
    let changes = api.contacts_delta_page(&folder.id, Some(&link)).await?;
    ensure!(
        changes.changed.len() == 1,
        "one change: {:?}",
        changes.changed.len()
    );
    ensure!(changes.changed[0].get("jobTitle") == Some(&json!("Head of Logistics")));
    let link = changes.delta_link.context("deltaLink")?;

    // A deletion in Outlook comes back as removed.
    world.emulator.delete_contact(&world.email, &id)?;
    let changes = api.contacts_delta_page(&folder.id, Some(&link)).await?;
    ensure!(
        changes.removed == vec![id.clone()],
        "removed: {:?}",
        changes.removed
    );
    ensure!(changes.changed.is_empty());

    daemon.stop().await
}
