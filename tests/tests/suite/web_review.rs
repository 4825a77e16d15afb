//! The review experience in Chromium, at a desktop's 1280 x 900 and a phone's 390 x 844: no
//! page is wider than the screen; the review page shows every field of a suggestion (typed
//! phones, e-mails, websites, address, social profiles) with its confidence explained, counts
//! per status, names its buttons after the contact, and confirms each action (accept, dismiss,
//! bulk, merge) with Undo on the same filtered view. Screenshots of every page at both sizes go
//! to `target/web-screenshots/`; the ones shown in the README live in `docs/screenshots/` and
//! are checked not to be blank.

use crate::web_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::store::{SuggestionFields, SuggestionId, SuggestionStatus};
use mailsig_tests::browser::{Browser, Screen, check_screenshot};
use web_support::{Site, field, full_signature, screenshot_path};

const EMAIL: &str = "rita@mycorp.example";
const PASSWORD: &str = "owner password 1";
const WAIT: Duration = Duration::from_secs(15);

/// A list "Customers" with four suggestions (two from Harbor Freight), an empty list
/// "Prospects", and the site signed in as their owner.
struct Seeded {
    site: Site,
    customers: i64,
    prospects: i64,
    mailbox: i64,
    rachel: SuggestionId,
    omar: SuggestionId,
    lena: SuggestionId,
}

async fn seeded() -> Result<Seeded> {
    let site = Site::start(false).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let customers = site.store.create_list(owner.id, "Customers").await?;
    let prospects = site.store.create_list(owner.id, "Prospects").await?;
    let mailbox = site
        .mailbox(owner.id, customers.id, "rita@mycorp.example")
        .await?;
    let rachel = site
        .suggestion(
            mailbox,
            1,
            "rachel.kim@harbor.example",
            full_signature("Rachel Kim", "Harbor Freight Lines", "harbor.example"),
        )
        .await?;
    let omar = site
        .suggestion(
            mailbox,
            2,
            "omar.haddad@harbor.example",
            full_signature("Omar Haddad", "Harbor Freight Lines", "harbor.example"),
        )
        .await?;
    let lena = site
        .suggestion(
            mailbox,
            3,
            "lena.vogt@vogt-logistik.example",
            SuggestionFields {
                name: field("Lena Vogt", 0.96),
                company: field("Vogt Logistik GmbH", 0.9),
                ..SuggestionFields::default()
            },
        )
        .await?;
    // An address without a break opportunity: it must wrap, not widen the page.
    site.suggestion(
        mailbox,
        4,
        "priya.natarajan-venkataraman.procurement@subsidiary.very-long-company-domain.example",
        SuggestionFields {
            title: field("Head of Procurement", 0.55),
            ..SuggestionFields::default()
        },
    )
    .await?;
    Ok(Seeded {
        site,
        customers: customers.id.0,
        prospects: prospects.id.0,
        mailbox: mailbox.0,
        rachel,
        omar,
        lena,
    })
}

async fn status(site: &Site, id: SuggestionId) -> Result<SuggestionStatus> {
    Ok(site.store.get_suggestion(id).await?.status)
}

/// The query pairs of the browser's URL.
async fn query(browser: &Browser) -> Result<Vec<(String, String)>> {
    Ok(browser
        .current_url()
        .await?
        .query_pairs()
        .into_owned()
        .collect())
}

async fn ensure_view_kept(browser: &Browser, status: &str, q: &str) -> Result<()> {
    let pairs = query(browser).await?;
    let has = |k: &str, v: &str| pairs.iter().any(|(pk, pv)| pk == k && pv == v);
    ensure!(
        has("status", status) && has("q", q),
        "the view was not kept: {pairs:?}"
    );
    let typed: String = browser
        .eval("return document.querySelector('#q').value;")
        .await?;
    ensure!(typed == q, "the search box says {typed:?}, not {q:?}");
    Ok(())
}

async fn count(browser: &Browser, tab: &str) -> Result<String> {
    browser.text(&format!("#tab-{tab} .count")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_review_action_is_confirmed_with_undo_on_the_same_view() -> Result<()> {
    let Seeded {
        site,
        customers,
        prospects,
        rachel,
        omar,
        lena,
        ..
    } = seeded().await?;
    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    let view = site.url(&format!("/lists/{customers}/review?status=new&q=harbor"));
    browser.goto(&view).await?;

    // Every field, phones with their type, the confidence explained, counts per status.
    let card = format!("#suggestion-{}", rachel.0);
    let phones = browser.text(&format!("{card} dd.phones")).await?;
    ensure!(
        phones.contains("Work") && phones.contains("+14155550134"),
        "{phones}"
    );
    ensure!(
        phones.contains("Mobile") && phones.contains("+14155550188"),
        "{phones}"
    );
    for (key, text) in [
        ("emails", "rachel@harbor.example"),
        ("websites", "harbor.example"),
        ("address", "500 Terry A Francois Blvd"),
        ("social", "linkedin.com/in/rachel-kim"),
        ("title", "Logistics Manager, West Coast"),
        ("company", "Harbor Freight Lines"),
    ] {
        let shown = browser.text(&format!("{card} dd.{key}")).await?;
        ensure!(shown.contains(text), "{key}: {shown}");
    }
    ensure!(
        browser
            .text(&format!("{card} dd.title .confidence"))
            .await?
            .contains("64% · check"),
        "a low confidence is not marked"
    );
    let hint = browser.accessible_text("details.hint").await?;
    ensure!(hint.contains("how often mailsig is right"), "{hint}");
    ensure!(
        browser
            .exists(&format!("{card} time[datetime][title]"))
            .await?,
        "no <time> with the exact time in its title"
    );
    ensure!(count(&browser, "new").await? == "4", "new count");
    ensure!(count(&browser, "all").await? == "4", "all count");
    ensure!(
        browser.exists(&format!("#suggestion-{}", omar.0)).await?
            && !browser.exists(&format!("#suggestion-{}", lena.0)).await?,
        "the search does not filter"
    );
    // Buttons are named after the contact for screen readers.
    let name = browser
        .accessible_text(&format!("{card} button.accept"))
        .await?;
    ensure!(name == "Accept Rachel Kim", "accessible name {name:?}");
    ensure!(
        !browser.exists(&format!("{card} .badge")).await?,
        "the status is repeated although the filter says it"
    );

    // Accept: confirmed by name, the view kept, the card gone from "new", counted as accepted.
    browser.click(&format!("{card} button.accept")).await?;
    let notice = browser
        .wait_text("#notice", "Accepted Rachel Kim.", WAIT)
        .await?;
    ensure!(notice.contains("Undo"), "no Undo: {notice}");
    ensure_view_kept(&browser, "new", "harbor").await?;
    ensure!(status(&site, rachel).await? == SuggestionStatus::Accepted);
    ensure!(
        !browser.exists(&card).await?,
        "the accepted card is still under new"
    );
    ensure!(count(&browser, "accepted").await? == "1", "accepted count");
    ensure!(
        count(&browser, "new").await? == "3",
        "new count after accept"
    );

    // Undo puts it back, on the same view.
    browser.click("#undo").await?;
    browser.wait_text("#notice", "Undone:", WAIT).await?;
    ensure_view_kept(&browser, "new", "harbor").await?;
    ensure!(status(&site, rachel).await? == SuggestionStatus::New);
    ensure!(browser.exists(&card).await?, "the card did not come back");

    // Bulk dismiss of two ticked suggestions, then Undo of both.
    browser.click(&format!("#pick-{}", rachel.0)).await?;
    browser.click(&format!("#pick-{}", omar.0)).await?;
    browser.click("#bulk-dismiss").await?;
    browser
        .wait_text("#notice", "Dismissed 2 suggestions.", WAIT)
        .await?;
    ensure_view_kept(&browser, "new", "harbor").await?;
    ensure!(status(&site, rachel).await? == SuggestionStatus::Dismissed);
    ensure!(status(&site, omar).await? == SuggestionStatus::Dismissed);
    ensure!(
        browser.text("#no-suggestions").await?.contains("harbor"),
        "the empty result does not say what was searched"
    );
    browser.click("#undo").await?;
    browser.wait_text("#notice", "Undone:", WAIT).await?;
    ensure!(status(&site, rachel).await? == SuggestionStatus::New);
    ensure!(status(&site, omar).await? == SuggestionStatus::New);

    // Under "all": an accepted card says so and offers no Accept.
    browser
        .goto(&site.url(&format!("/lists/{customers}/review?status=all")))
        .await?;
    browser.click(&format!("{card} button.accept")).await?;
    browser
        .wait_text("#notice", "Accepted Rachel Kim.", WAIT)
        .await?;
    ensure!(
        browser.text(&format!("{card} .badge")).await? == "Accepted",
        "no status badge under all"
    );
    ensure!(
        !browser.exists(&format!("{card} button.accept")).await?,
        "an accepted suggestion still offers Accept"
    );

    // A merge lands back on the view it came from, confirmed.
    browser.goto(&view).await?;
    browser
        .click(&format!("#suggestion-{} a.button", omar.0))
        .await?;
    browser.wait_path(|p| p.ends_with("/merge"), WAIT).await?;
    browser.fill("#title-value", "Fleet Director").await?;
    browser.click("#merge").await?;
    browser
        .wait_text("#notice", "Merged Omar Haddad.", WAIT)
        .await?;
    ensure_view_kept(&browser, "new", "harbor").await?;
    ensure!(status(&site, omar).await? == SuggestionStatus::Merged);

    // A list without any suggestion says what will happen.
    browser
        .goto(&site.url(&format!("/lists/{prospects}/review")))
        .await?;
    let empty = browser.text("#no-suggestions").await?;
    ensure!(
        empty.contains("No suggestions yet") && empty.contains("mailbox"),
        "{empty}"
    );

    browser.close().await?;
    site.stop().await
}

/// Erase, for a person's erasure request: behind a confirmation page that names who goes and
/// has a Cancel back to the same view; once confirmed the suggestion is gone from the store
/// and the page, the view is kept, and the audit entry names the id and no value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suggestion_is_erased_for_good_after_a_confirmation() -> Result<()> {
    let Seeded {
        site,
        customers,
        lena,
        ..
    } = seeded().await?;
    // An editor of the list is offered no Erase, and its confirmation page refuses them.
    let eve = site.user("eve@mycorp.example", "eve password 1").await?;
    site.store
        .share_list(
            mailsig_daemon::store::ListId(customers),
            eve.id,
            mailsig_daemon::store::Role::Editor,
        )
        .await?;
    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, "eve@mycorp.example", "eve password 1")
        .await?;
    let view = format!("/lists/{customers}/review?status=new&q=vogt");
    browser.goto(&site.url(&view)).await?;
    ensure!(
        browser.exists(&format!("#suggestion-{}", lena.0)).await?
            && !browser
                .exists(&format!("#suggestion-{} a.erase", lena.0))
                .await?,
        "the editor's review card offers Erase"
    );
    browser
        .goto(&site.url(&format!("/suggestions/{}/erase", lena.0)))
        .await?;
    ensure!(
        !browser.exists("#confirm-erase").await?,
        "the editor is asked to confirm an erasure"
    );
    browser.close().await?;

    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    browser.goto(&site.url(&view)).await?;
    let card = format!("#suggestion-{}", lena.0);
    // Its accessible name says who (the name is visually hidden beside "Erase").
    let named: String = browser
        .eval(&format!(
            "return document.querySelector('{card} a.erase').textContent;"
        ))
        .await?;
    ensure!(
        named.trim() == "Erase Lena Vogt",
        "the Erase link is named {named:?}"
    );

    // Cancel: back on the same view, nothing erased.
    browser.click(&format!("{card} a.erase")).await?;
    browser.wait_path(|p| p.ends_with("/erase"), WAIT).await?;
    let warning = browser.text("main").await?;
    ensure!(
        warning.contains("Erase Lena Vogt for good?") && warning.contains("cannot be brought back"),
        "confirmation page: {warning}"
    );
    browser.click("#cancel-erase").await?;
    browser.wait_path(|p| p.ends_with("/review"), WAIT).await?;
    ensure_view_kept(&browser, "new", "vogt").await?;
    ensure!(
        site.store.get_suggestion(lena).await.is_ok(),
        "erased on Cancel"
    );

    // Confirmed: gone, confirmed on the same view.
    browser.click(&format!("{card} a.erase")).await?;
    browser.wait_path(|p| p.ends_with("/erase"), WAIT).await?;
    browser.click("#confirm-erase").await?;
    browser
        .wait_text("#notice", "Erased 1 suggestion for good.", WAIT)
        .await?;
    ensure_view_kept(&browser, "new", "vogt").await?;
    ensure!(
        !browser.exists(&card).await?,
        "the erased suggestion is still shown"
    );
    ensure!(
        !browser.exists("#undo").await?,
        "an erasure offers an Undo it cannot keep"
    );
    ensure!(
        site.store.get_suggestion(lena).await.is_err(),
        "the suggestion is still in the store"
    );
    let audit = site.store.audit_log(50).await?;
    let entry = audit
        .iter()
        .find(|e| e.action == mailsig_daemon::domain::AuditAction::SuggestionErase)
        .context("no audit entry for the erasure")?;
    ensure!(
        entry.object_id == Some(lena.0) && entry.detail.is_none(),
        "audit entry {entry:?}"
    );
    let logged = format!("{audit:?}");
    ensure!(
        !logged.contains("Lena") && !logged.contains("vogt-logistik"),
        "the audit log holds the erased values"
    );

    browser.close().await?;
    site.stop().await
}

/// The pages a signed-in person sees, by name and path.
fn signed_in_pages(seeded: &Seeded) -> Vec<(&'static str, String)> {
    let Seeded {
        customers,
        prospects,
        mailbox,
        rachel,
        ..
    } = seeded;
    vec![
        ("dashboard", "/dashboard".to_owned()),
        ("review", format!("/lists/{customers}/review")),
        (
            "review-all",
            format!("/lists/{customers}/review?status=all"),
        ),
        ("review-empty", format!("/lists/{prospects}/review")),
        ("merge", format!("/suggestions/{}/merge", rachel.0)),
        ("link-mailbox", "/mailboxes/new".to_owned()),
        ("mailbox", format!("/mailboxes/{mailbox}")),
        ("share", format!("/lists/{customers}/share")),
        ("delete-list", format!("/lists/{prospects}/delete")),
        (
            "erase-suggestion",
            format!("/suggestions/{}/erase?status=new", rachel.0),
        ),
        ("not-found", "/no/such/page".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_desktop_and_a_phone_with_the_navigation_on_one_row() -> Result<()> {
    let seeded = seeded().await?;
    let site = &seeded.site;
    for screen in Screen::ALL {
        let browser = Browser::on(screen).await?;
        let (width, _) = screen.size();
        let inner: u32 = browser.eval("return window.innerWidth;").await?;
        ensure!(
            inner == width,
            "{screen:?}: the viewport is {inner} px wide"
        );

        browser.goto(&site.url("/sign-in")).await?;
        browser
            .assert_fits(&format!("sign-in on {screen:?}"))
            .await?;
        browser
            .screenshot(&screenshot_path(&format!("sign-in-{}", screen.name())))
            .await?;

        site.sign_in(&browser, EMAIL, PASSWORD).await?;
        for (name, path) in signed_in_pages(&seeded) {
            browser.goto(&site.url(&path)).await?;
            ensure!(
                browser.exists("main h1").await?,
                "{path}: no page heading: {}",
                browser.source().await?
            );
            browser
                .assert_fits(&format!("{path} on {screen:?}"))
                .await?;
            browser
                .assert_navigation_on_one_row(&format!("{path} on {screen:?}"))
                .await?;
            browser
                .screenshot(&screenshot_path(&format!("{name}-{}", screen.name())))
                .await
                .with_context(|| format!("screenshot of {path}"))?;
        }
        browser.close().await?;
    }
    seeded.site.stop().await
}

/// The screenshots the README shows: every one present for both screens, and none blank.
#[test]
fn the_screenshots_in_docs_are_not_blank() -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    for page in ["sign-in", "dashboard", "review", "merge", "link-mailbox"] {
        for screen in Screen::ALL {
            let path = dir.join(format!("{page}-{}.png", screen.name()));
            let png = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            let (width, _) = check_screenshot(&png).with_context(|| path.display().to_string())?;
            ensure!(
                width == screen.size().0,
                "{} is {width} px wide",
                path.display()
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_view_compares_changes_keeps_typed_text_asks_before_clearing_and_undoes()
-> Result<()> {
    let Seeded {
        site,
        customers,
        mailbox,
        rachel,
        ..
    } = seeded().await?;
    // Newer mail from Rachel with another title: the title now has an earlier value.
    let mut newer = full_signature("Rachel Kim", "Harbor Freight Lines", "harbor.example");
    newer.title = field("Director of Logistics", 0.9);
    site.mail(
        mailsig_daemon::store::MailboxId(mailbox),
        5,
        "rachel.kim@harbor.example",
        newer,
    )
    .await?;
    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    let view = format!("/lists/{customers}/review?status=new&q=harbor");
    browser.goto(&site.url(&view)).await?;
    browser
        .click(&format!("#suggestion-{} a.button", rachel.0))
        .await?;
    browser.wait_path(|p| p.ends_with("/merge"), WAIT).await?;

    // Side by side only where the value changed; every other field is a pre-filled box.
    let compare = browser.text("#field-title.compare").await?;
    ensure!(
        compare.contains("Logistics Manager, West Coast")
            && compare.contains("Director of Logistics"),
        "title comparison: {compare}"
    );
    ensure!(
        !browser.exists("#name-old").await? && !browser.exists("#field-company.compare").await?,
        "unchanged fields are offered a choice"
    );
    // Each side says when its value was seen (a <time> the reader's clock can rewrite).
    let dated: usize = browser
        .eval("return document.querySelectorAll('#field-title.compare time[datetime]').length;")
        .await?;
    ensure!(dated == 2, "{dated} dated values in the title comparison");
    let company: String = browser
        .eval("return document.querySelector('#company-value').value;")
        .await?;
    ensure!(
        company == "Harbor Freight Lines",
        "company box: {company:?}"
    );
    ensure!(
        browser.exists("#merge-form #dismiss").await? && browser.exists("#cancel").await?,
        "no Dismiss or Cancel on the merge view"
    );

    // Typed text without choosing its radio, and an emptied box without "Clear": the form
    // comes back with the text kept, nothing stored.
    browser.fill("#title-value", "VP Logistics").await?;
    browser.fill("#company-value", "").await?;
    browser.click("#merge").await?;
    browser
        .wait_text("#form-error", "Nothing was saved", WAIT)
        .await?;
    let title: String = browser
        .eval("return document.querySelector('#title-value').value;")
        .await?;
    ensure!(title == "VP Logistics", "typed text lost: {title:?}");
    ensure!(
        browser.text("#company-error").await?.contains("Clear"),
        "no error beside the emptied company"
    );
    let stored = site.store.get_suggestion(rachel).await?;
    ensure!(
        stored.status == SuggestionStatus::New
            && stored.fields.company.as_ref().map(|f| f.value.as_str())
                == Some("Harbor Freight Lines"),
        "the refused form changed the suggestion: {:?}",
        stored.status
    );

    // Confirm the clearing, remove the mobile number: saved, back on the view, confirmed.
    let merged_from = site.store.get_suggestion(rachel).await?;
    browser.click("#company-clear").await?;
    browser.click("#keep-phones-2").await?;
    browser.click("#merge").await?;
    browser
        .wait_text("#notice", "Merged Rachel Kim.", WAIT)
        .await?;
    ensure_view_kept(&browser, "new", "harbor").await?;
    let stored = site.store.get_suggestion(rachel).await?;
    ensure!(
        stored.status == SuggestionStatus::Merged,
        "{:?}",
        stored.status
    );
    ensure!(
        stored.fields.title.as_ref().map(|f| f.value.as_str()) == Some("VP Logistics"),
        "title {:?}",
        stored.fields.title
    );
    ensure!(stored.fields.company.is_none(), "company not cleared");
    let phones: Vec<&str> = stored
        .fields
        .phones
        .iter()
        .map(|p| p.e164.as_str())
        .collect();
    ensure!(phones == ["+14155550134"], "phones {phones:?}");
    ensure!(stored.fields.emails.len() == 1, "an e-mail was lost");

    // Undo: the values, the removed phone and the status from before the merge come back, on
    // the same view, and the Undo is used up.
    browser.click("#undo").await?;
    browser
        .wait_text("#notice", "Undone: Rachel Kim", WAIT)
        .await?;
    ensure_view_kept(&browser, "new", "harbor").await?;
    ensure!(
        !browser.exists("#undo").await?,
        "an undone merge still offers Undo"
    );
    let restored = site.store.get_suggestion(rachel).await?;
    ensure!(
        restored.status == SuggestionStatus::New,
        "status after Undo: {:?}",
        restored.status
    );
    ensure!(
        restored.fields == merged_from.fields,
        "the values before the merge were not restored: {:?}",
        restored.fields
    );
    ensure!(
        browser
            .text(&format!("#suggestion-{}", rachel.0))
            .await?
            .contains("Harbor Freight Lines"),
        "the restored card does not show the company again"
    );

    browser.close().await?;
    site.stop().await
}

/// An action sent after the session ended lands on the sign-in page, which says so, and
/// signing in again returns to the page it was sent from, filters and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_session_ends_signing_in_returns_to_the_page() -> Result<()> {
    let Seeded {
        site,
        customers,
        rachel,
        ..
    } = seeded().await?;
    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    let view = format!("/lists/{customers}/review?status=new&q=harbor");
    browser.goto(&site.url(&view)).await?;
    let owner = site.store.user_by_email(EMAIL).await?;
    site.store.delete_sessions_of(owner.id).await?;

    browser
        .click(&format!("#suggestion-{} button.accept", rachel.0))
        .await?;
    browser.wait_path(|p| p == "/sign-in", WAIT).await?;
    let notice = browser.text("#notice").await?;
    ensure!(notice.contains("session has ended"), "{notice}");
    ensure!(
        status(&site, rachel).await? == SuggestionStatus::New,
        "the action ran without a session"
    );
    browser.fill("#email", EMAIL).await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click("#sign-in").await?;
    browser.wait_path(|p| p.ends_with("/review"), WAIT).await?;
    ensure_view_kept(&browser, "new", "harbor").await?;
    ensure!(
        browser
            .exists(&format!("#suggestion-{} button.accept", rachel.0))
            .await?,
        "not back on the review page"
    );

    // Signing out says so.
    browser.click("header nav button").await?;
    browser.wait_path(|p| p == "/sign-in", WAIT).await?;
    ensure!(
        browser.text("#notice").await?.contains("signed out"),
        "signing out is not confirmed"
    );
    browser.close().await?;
    site.stop().await
}

/// The navigation marks the page the reader is on, for screen readers (`aria-current`) and
/// visibly (bold); a page that is none of its links marks none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_navigation_marks_the_current_page() -> Result<()> {
    let seeded = seeded().await?;
    let site = &seeded.site;
    let browser = Browser::on(Screen::Phone).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    let review = format!("/lists/{}/review", seeded.customers);
    for (path, marked) in [
        ("/dashboard", Some("/dashboard")),
        ("/mailboxes/new", Some("/mailboxes/new")),
        ("/account/security", Some("/account/security")),
        (review.as_str(), None),
    ] {
        browser.goto(&site.url(path)).await?;
        let (current, weights): (Vec<String>, Vec<String>) = browser
            .eval(
                "const links = [...document.querySelectorAll('header nav a')]; \
                 return [links.filter(a => a.getAttribute('aria-current') === 'page') \
                           .map(a => a.getAttribute('href')), \
                         links.map(a => getComputedStyle(a).fontWeight)];",
            )
            .await?;
        let expected: Vec<String> = marked.into_iter().map(str::to_owned).collect();
        ensure!(current == expected, "{path}: marked {current:?}");
        let bold = weights.iter().filter(|w| w.as_str() == "700").count();
        ensure!(
            bold == expected.len(),
            "{path}: {bold} links look current ({weights:?})"
        );
    }
    browser.close().await?;
    seeded.site.stop().await
}

/// Times are shown in the reader's time zone by the pages' own script (allowed by the CSP):
/// a browser in India (UTC+5:30, no daylight saving) sees the exact time of a suggestion and of
/// its sessions in its own clock; the server's UTC text stays in the page for browsers without
/// the script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_are_shown_in_the_readers_time_zone() -> Result<()> {
    let seeded = seeded().await?;
    let site = &seeded.site;
    let browser = Browser::in_zone(Screen::Desktop, "Asia/Kolkata").await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;

    // In Kolkata's clock, as the script writes it.
    let kolkata = |iso: &str| -> Result<String> {
        let at = time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("datetime {iso:?}"))?
            .to_offset(time::UtcOffset::from_hms(5, 30, 0)?);
        let shown = at.format(&time::format_description::parse_borrowed::<2>(
            "[year]-[month]-[day] [hour]:[minute]",
        )?)?;
        Ok(format!("{shown} (UTC+5:30)"))
    };
    let read = |selector: &'static str| {
        let browser = &browser;
        async move {
            let answer: Option<(String, String, String)> = browser
                .eval(&format!(
                    "const t = document.querySelector('{selector}'); \
                     return t ? [t.getAttribute('datetime'), t.getAttribute('title') || '', \
                                 t.textContent] : null;"
                ))
                .await?;
            answer.with_context(|| format!("no {selector}"))
        }
    };

    browser
        .goto(&site.url(&format!("/lists/{}/review", seeded.customers)))
        .await?;
    web_support::wait_exists(&browser, "time[data-local]", WAIT).await?;
    let (iso, title, text) = read("time[datetime]").await?;
    ensure!(title == kolkata(&iso)?, "title {title:?} for {iso}");
    ensure!(
        text.contains("ago") || text.contains("just now"),
        "the relative text was replaced: {text:?}"
    );

    browser.goto(&site.url("/account/security")).await?;
    web_support::wait_exists(&browser, "time.exact[data-local]", WAIT).await?;
    let (iso, _, text) = read("#sessions time.exact").await?;
    ensure!(text == kolkata(&iso)?, "session start {text:?} for {iso}");

    // The pages load it from this origin, and the CSP allows that script and nothing inline.
    let (csp, served) = fetch_page(site, "/sign-in").await?;
    ensure!(
        served.contains("<script src=\"/static/local-time.js\" defer></script>"),
        "the pages do not load the script"
    );
    ensure!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe"),
        "CSP {csp:?}"
    );
    browser.close().await?;
    seeded.site.stop().await
}

/// A page's Content-Security-Policy and HTML as a client without a session gets them.
async fn fetch_page(site: &Site, path: &str) -> Result<(String, String)> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
            site.env.ca_path(),
        )?)?)
        .build()?;
    let answer = client.get(site.url(path)).send().await?;
    let csp = answer
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((csp, answer.text().await?))
}

/// WCAG 2.2 relative luminance of an `rgb(r, g, b)` or `rgba(…)` colour as the browser computes it.
fn luminance(css: &str) -> Result<f64> {
    let inner = css
        .trim()
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let channels: Vec<f64> = inner
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("colour {css:?}"))?;
    ensure!(channels.len() == 3, "colour {css:?}");
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    Ok(0.2126 * linear(channels[0]) + 0.7152 * linear(channels[1]) + 0.0722 * linear(channels[2]))
}

fn contrast(a: &str, b: &str) -> Result<f64> {
    let (a, b) = (luminance(a)?, luminance(b)?);
    let (light, dark) = if a > b { (a, b) } else { (b, a) };
    Ok((light + 0.05) / (dark + 0.05))
}

/// WCAG 1.4.11 (non-text contrast, which axe-core does not check): the focus ring of a focused
/// field and the borders of fields and secondary buttons reach 3:1 against the page, as the
/// browser computes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_focus_ring_and_control_borders_reach_three_to_one() -> Result<()> {
    let Seeded {
        site, customers, ..
    } = seeded().await?;
    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    browser
        .goto(&site.url(&format!("/lists/{customers}/review")))
        .await?;
    let colours: String = browser
        .eval(
            "const q = document.querySelector('#q'); q.focus(); \
             const s = getComputedStyle(q); \
             const b = getComputedStyle(document.querySelector('button.secondary')); \
             return [s.outlineStyle, s.outlineColor, s.borderTopColor, b.borderTopColor, \
                     getComputedStyle(document.body).backgroundColor].join('|');",
        )
        .await?;
    let parts: Vec<&str> = colours.split('|').collect();
    ensure!(parts.len() == 5, "computed styles: {colours}");
    ensure!(parts[0] != "none", "a focused field shows no focus ring");
    let page = if parts[4].contains("rgba(0, 0, 0, 0)") {
        "rgb(255, 255, 255)"
    } else {
        parts[4]
    };
    for (what, colour) in [
        ("focus ring", parts[1]),
        ("field border", parts[2]),
        ("secondary button border", parts[3]),
    ] {
        let ratio = contrast(colour, page)?;
        ensure!(
            ratio >= 3.0,
            "the {what} ({colour}) has {ratio:.2}:1 against the page ({page})"
        );
    }
    browser.close().await?;
    site.stop().await
}

/// Lists and sharing in words: a list shared with someone says, on their dashboard, whose it
/// is and how many suggestions wait; on the owner's share page "Stop sharing" is hidden behind
/// a disclosure that names the person, and stopping is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_list_says_whose_it_is_and_stop_sharing_is_confirmed() -> Result<()> {
    let Seeded {
        site, customers, ..
    } = seeded().await?;
    let bob = site.user("bob@mycorp.example", "bob password 1").await?;
    site.store
        .share_list(
            mailsig_daemon::store::ListId(customers),
            bob.id,
            mailsig_daemon::store::Role::Editor,
        )
        .await?;
    let browser = Browser::on(Screen::Phone).await?;
    site.sign_in(&browser, "bob@mycorp.example", "bob password 1")
        .await?;
    let card = browser.text(&format!("#list-{customers}")).await?;
    ensure!(
        card.contains("Shared with you by rita@mycorp.example")
            && card.contains("an editor")
            && card.contains("4 suggestions to review"),
        "bob's card of the shared list: {card}"
    );
    browser.close().await?;

    let browser = Browser::on(Screen::Desktop).await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    browser
        .goto(&site.url(&format!("/lists/{customers}/share")))
        .await?;
    let button = format!("#unshare-{}", bob.id.0);
    let shown: bool = browser
        .eval(&format!(
            "return document.querySelector('{button}').checkVisibility();"
        ))
        .await?;
    ensure!(!shown, "Stop sharing is one click away");
    browser.click("#members details summary").await?;
    ensure!(
        browser
            .text("#members details")
            .await?
            .contains("bob@mycorp.example will no longer see this list"),
        "the disclosure does not say what happens"
    );
    browser.click(&button).await?;
    browser
        .wait_text("#notice", "Stopped sharing with bob@mycorp.example", WAIT)
        .await?;
    ensure!(
        site.store.lists_for_user(bob.id).await?.is_empty(),
        "bob still sees the list"
    );
    browser.close().await?;
    site.stop().await
}

/// What a person sees around the pages: the sign-in page says what mailsig is; an unknown
/// address and an error keep the navigation; the page downloads are named after the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_says_what_mailsig_is_errors_keep_the_navigation_and_downloads_are_named()
-> Result<()> {
    let Seeded {
        site, customers, ..
    } = seeded().await?;
    let browser = Browser::on(Screen::Phone).await?;
    browser.goto(&site.url("/sign-in")).await?;
    let about = browser.text("#about").await?;
    ensure!(
        about.contains("signatures") && about.contains("never the mail"),
        "the sign-in page does not say what mailsig is: {about}"
    );
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    for path in [
        "/no/such/page".to_owned(),
        "/lists/999999/review".to_owned(),
    ] {
        browser.goto(&site.url(&path)).await?;
        ensure!(
            browser.exists("header nav a[href='/dashboard']").await?
                && browser.exists("main h1").await?,
            "{path}: no navigation or heading: {}",
            browser.text("body").await?
        );
    }
    // The page downloads (a session of the same person, as the browser's).
    let session = mailsig_daemon::http::auth::sign_in(&site.store, EMAIL, PASSWORD).await?;
    let cookie = format!(
        "{}={}",
        mailsig_daemon::http::auth::SESSION_COOKIE,
        session.cookie_value()
    );
    for ext in ["csv", "vcf"] {
        let path = format!("/lists/{customers}/export.{ext}");
        let reply = mailsig_tests::https::https(
            site.addr,
            site.env.tls_client_config(),
            &mailsig_tests::https::Request::get(&path).header("Cookie", cookie.clone()),
        )
        .await?;
        let disposition = reply.header("content-disposition").unwrap_or_default();
        ensure!(
            reply.status == 200 && disposition.contains(&format!("filename=\"Customers.{ext}\"")),
            "the {ext} download: {} named {disposition:?}",
            reply.status
        );
    }
    browser.close().await?;
    site.stop().await
}
