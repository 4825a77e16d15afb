//! Finding a user's address books from a server's address (RFC 6764 section 6, RFC 6352
//! section 7): the well-known URL (`/.well-known/carddav`, redirect followed only on the same
//! origin), the `current-user-principal`, its `addressbook-home-set`, and the address books in
//! that home. A URL that is itself an address book is taken as it is.

use url::Url;

use crate::domain::address_book::BookError;

use super::Connection;

/// One address book found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundBook {
    pub url: Url,
    pub name: Option<String>,
}

async fn is_addressbook(
    connection: &Connection,
    url: &Url,
) -> Result<Option<FoundBook>, BookError> {
    let answer = connection
        .propfind(url, "0", "<d:resourcetype/><d:displayname/>")
        .await?;
    Ok(answer
        .responses
        .first()
        .filter(|r| r.is_addressbook)
        .map(|r| FoundBook {
            url: url.clone(),
            name: r.display_name.clone().filter(|n| !n.is_empty()),
        }))
}

/// The address books reachable from `start` (a server address or a collection URL).
pub async fn discover(connection: &Connection, start: &Url) -> Result<Vec<FoundBook>, BookError> {
    if start.path() != "/"
        && let Some(book) = is_addressbook(connection, start).await?
    {
        return Ok(vec![book]);
    }
    let mut context = start.clone();
    if start.path() == "/" {
        let well_known = connection.url_of("/.well-known/carddav")?;
        let (status, location) = connection.probe(&well_known).await?;
        if status.is_redirection()
            && let Some(location) = location
        {
            context = connection.url_of(&location)?;
        }
    }
    let principal = connection
        .propfind(&context, "0", "<d:current-user-principal/>")
        .await?
        .responses
        .into_iter()
        .find_map(|r| r.current_user_principal)
        .map(|href| connection.url_of(&href))
        .transpose()?
        .unwrap_or(context);
    let home = connection
        .propfind(&principal, "0", "<card:addressbook-home-set/>")
        .await?
        .responses
        .into_iter()
        .find_map(|r| r.addressbook_home_set)
        .ok_or(BookError::NotFound)?;
    let home = connection.url_of(&home)?;
    let listing = connection
        .propfind(&home, "1", "<d:resourcetype/><d:displayname/>")
        .await?;
    let mut books = Vec::new();
    for r in listing.responses.into_iter().filter(|r| r.is_addressbook) {
        books.push(FoundBook {
            url: connection.url_of(&r.href)?,
            name: r.display_name.filter(|n| !n.is_empty()),
        });
    }
    Ok(books)
}
