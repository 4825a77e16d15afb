//! Address books connected to a list: the duplicate check against the book's local index,
//! shown in the API's suggestion JSON (and its OpenAPI schema). Runs on SQLite and PostgreSQL.

use crate::api_support;

use anyhow::{Context, Result, ensure};
use api_support::{Auth, BACKENDS, World, add_suggestion};
use axum::http::Method;
use mailsig_daemon::domain::address_book::{
    BookContact, BookEntry, BookEntryId, BookKeys, BookKind, BookPhone, ETag, Region, SyncState,
};
use mailsig_daemon::store::{IndexedChanges, IndexedEntry, NewBook};
use serde_json::Value;

fn entry(id: &str, contact: BookContact) -> IndexedEntry {
    let keys = BookKeys::of_contact(&contact, Some(Region::DE));
    IndexedEntry {
        entry: BookEntry {
            id: BookEntryId(id.to_owned()),
            etag: ETag(format!("\"{id}-1\"")),
            contact,
        },
        keys,
    }
}

/// The book of the duplicate-check test: one entry per kind of match.
fn book() -> Vec<IndexedEntry> {
    vec![
        entry(
            "/book/ann.vcf",
            BookContact {
                name: Some("Ann Other-Spelling".into()),
                emails: vec!["ANN@acme.example".into()],
                ..BookContact::default()
            },
        ),
        entry(
            "/book/bob.vcf",
            BookContact {
                name: Some("Bob Meyer".into()),
                company: Some("Globex GmbH".into()),
                ..BookContact::default()
            },
        ),
        entry(
            "/book/carla.vcf",
            BookContact {
                name: Some("C. Somebody".into()),
                phones: vec![BookPhone {
                    kind: "work".into(),
                    number: "030 1234567".into(),
                }],
                ..BookContact::default()
            },
        ),
        entry(
            "/book/dora.vcf",
            BookContact {
                name: Some("Dora Kim".into()),
                company: Some("Initech".into()),
                ..BookContact::default()
            },
        ),
    ]
}

fn verdict_of<'a>(items: &'a [Value], sender: &str) -> Result<&'a Value> {
    items
        .iter()
        .find(|s| s["sender_email"] == sender)
        .and_then(|s| s.get("book"))
        .with_context(|| format!("no book verdict for {sender}"))
}

#[tokio::test]
async fn the_duplicate_check_tells_exists_possible_duplicate_and_new_from_the_book_index()
-> Result<()> {
    for backend in BACKENDS {
        let w = World::new(backend).await?;
        let owner = Auth::Bearer(w.owner.1.clone());
        let store = &w.app.store;
        let path = format!("/api/v1/lists/{}/suggestions", w.list.0);
        // Without a connected book there is no verdict.
        let reply = w.app.call(Method::GET, &path, &owner, None).await?;
        ensure!(reply.status == 200, "{backend:?}: {}", reply.status);
        let items = reply.json()?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            !items.is_empty() && items.iter().all(|s| s.get("book").is_none()),
            "{backend:?}: {items:?}"
        );

        store
            .connect_book(&NewBook {
                list: w.list,
                kind: BookKind::CardDav,
                location: "https://book.example/dav/owner/contacts/",
                settings: "{}",
                secret: None,
                created_by: w.owner.0.id,
            })
            .await?;
        store
            .apply_book_changes(
                w.list,
                &IndexedChanges {
                    changed: book(),
                    removed: vec![],
                    complete: true,
                    state: SyncState(Some("token-1".into())),
                },
            )
            .await?;
        ensure!(store.book_entry_count(w.list).await? == 4);

        // `ann@acme.example` is the world's suggestion: its address is in the book.
        add_suggestion(
            store,
            w.mailbox,
            "bob.maier@globex.example",
            &[("name", "Bob Maier"), ("company", "Globex")],
        )
        .await?;
        add_suggestion(
            store,
            w.mailbox,
            "carla@elsewhere.example",
            &[("name", "Carla Somebody"), ("phone", "+49301234567")],
        )
        .await?;
        add_suggestion(
            store,
            w.mailbox,
            "dora.kim@initech.example",
            &[("name", "Kim, Dora"), ("company", "Initech Inc.")],
        )
        .await?;
        add_suggestion(
            store,
            w.mailbox,
            "eve@new.example",
            &[("name", "Eve New"), ("company", "Globex")],
        )
        .await?;

        let reply = w.app.call(Method::GET, &path, &owner, None).await?;
        ensure!(reply.status == 200, "{backend:?}: {}", reply.status);
        let items = reply.json()?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let expect = [
            (
                "ann@acme.example",
                "exists",
                Some("/book/ann.vcf"),
                vec!["email"],
            ),
            (
                "bob.maier@globex.example",
                "possible_duplicate",
                Some("/book/bob.vcf"),
                vec!["phonetic_name_and_company"],
            ),
            (
                "carla@elsewhere.example",
                "possible_duplicate",
                Some("/book/carla.vcf"),
                vec!["phone"],
            ),
            (
                "dora.kim@initech.example",
                "possible_duplicate",
                Some("/book/dora.vcf"),
                vec!["name_and_company", "phonetic_name_and_company"],
            ),
            ("eve@new.example", "new", None, vec![]),
        ];
        for (sender, verdict, entry, reasons) in expect {
            let got = verdict_of(&items, sender)?;
            ensure!(
                got["verdict"] == verdict
                    && got["entry"].as_str() == entry
                    && got["reasons"] == serde_json::json!(reasons),
                "{backend:?}: {sender}: {got}"
            );
        }

        // One suggestion read alone carries the same verdict.
        let reply = w
            .app
            .call(
                Method::GET,
                &format!("/api/v1/suggestions/{}", w.suggestion.0),
                &owner,
                None,
            )
            .await?;
        let one = reply.json()?;
        ensure!(one["book"]["verdict"] == "exists", "{backend:?}: {one}");

        // The book changes: Ann's entry is gone, so her suggestion is new again.
        store
            .apply_book_changes(
                w.list,
                &IndexedChanges {
                    changed: vec![],
                    removed: vec![BookEntryId("/book/ann.vcf".into())],
                    complete: false,
                    state: SyncState(Some("token-2".into())),
                },
            )
            .await?;
        let reply = w.app.call(Method::GET, &path, &owner, None).await?;
        let items = reply.json()?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ann = verdict_of(&items, "ann@acme.example")?;
        ensure!(ann["verdict"] == "new", "{backend:?}: {ann}");
        let book = store.book_of_list(w.list).await?.context("book")?;
        ensure!(book.sync_state == SyncState(Some("token-2".into())));
    }
    Ok(())
}
