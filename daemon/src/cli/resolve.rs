//! Names wherever the CLI takes an id: a user by id or e-mail, a list by id or name, a mailbox
//! by id or address. A value made of digits only is an id; anything else is a name, and a name
//! that matches more than one object is refused with the ids to choose from.

use crate::store::{
    ContactList, ListId, Mailbox, MailboxFilter, MailboxId, Role, Store, User, UserId,
};

use super::exit::{CliError, CliResult, Exit, OrExit};

/// The id in `given` when it is one (digits only).
fn as_id(given: &str) -> Option<i64> {
    let given = given.trim();
    (!given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()))
        .then(|| given.parse().ok())
        .flatten()
}

/// One match, or a clear error naming what was looked for.
fn exactly_one<T>(
    mut found: Vec<T>,
    what: &str,
    given: &str,
    id_of: impl Fn(&T) -> i64,
) -> CliResult<T> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(CliError::msg(
            Exit::Data,
            format!("find {what}: there is no {what} {given:?}"),
        )),
        _ => {
            let ids: Vec<String> = found.iter().map(|f| id_of(f).to_string()).collect();
            Err(CliError::msg(
                Exit::Data,
                format!(
                    "find {what}: several are named {given:?} (ids {}); give the id",
                    ids.join(", ")
                ),
            ))
        }
    }
}

/// A user by id or e-mail address.
pub async fn user(store: &Store, given: &str) -> CliResult<User> {
    match as_id(given) {
        Some(id) => store.get_user(UserId(id)).await.or_exit("find user"),
        None => store.user_by_email(given.trim()).await.or_exit("find user"),
    }
}

/// A list by id or name. A name is looked up among the lists `among` can see when given, else
/// among every user's own lists.
pub async fn list(store: &Store, given: &str, among: Option<UserId>) -> CliResult<ContactList> {
    if let Some(id) = as_id(given) {
        return store.get_list(ListId(id)).await.or_exit("find list");
    }
    let name = given.trim();
    let mut found = Vec::new();
    match among {
        Some(user) => {
            for access in store.lists_for_user(user).await.or_exit("find list")? {
                if access.list.name == name {
                    found.push(access.list);
                }
            }
        }
        None => {
            for owner in store.list_users().await.or_exit("find list")? {
                for access in store.lists_for_user(owner.id).await.or_exit("find list")? {
                    if access.role == Role::Owner && access.list.name == name {
                        found.push(access.list);
                    }
                }
            }
        }
    }
    exactly_one(found, "list", name, |l| l.id.0)
}

/// A mailbox by id or address (case-insensitive), optionally only among `owner`'s mailboxes.
pub async fn mailbox(store: &Store, given: &str, owner: Option<UserId>) -> CliResult<Mailbox> {
    if let Some(id) = as_id(given) {
        return store
            .get_mailbox(MailboxId(id))
            .await
            .or_exit("find mailbox");
    }
    let address = given.trim();
    let filter = MailboxFilter {
        owner,
        ..MailboxFilter::default()
    };
    let found: Vec<Mailbox> = store
        .list_mailboxes(&filter)
        .await
        .or_exit("find mailbox")?
        .into_iter()
        .filter(|m| m.address.eq_ignore_ascii_case(address))
        .collect();
    exactly_one(found, "mailbox", address, |m| m.id.0)
}

#[cfg(test)]
mod tests {
    use super::as_id;

    #[test]
    fn digits_are_ids_and_anything_else_is_a_name() {
        assert_eq!(as_id("12"), Some(12));
        assert_eq!(as_id(" 7 "), Some(7));
        assert_eq!(as_id("Alice's contacts"), None);
        assert_eq!(as_id("-3"), None);
        assert_eq!(as_id("2a"), None);
        assert_eq!(as_id(""), None);
        assert_eq!(as_id("99999999999999999999"), None);
    }
}
