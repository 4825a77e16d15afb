//! Fresh PostgreSQL databases, one per test, on the shared test cluster.

use anyhow::{Context, Result, bail};
use sqlx::Connection;

/// Creates database `t_<random hex>` on the cluster of `admin_url` and returns the URL of the new
/// database (same host, port and user).
pub(crate) async fn fresh_database(admin_url: &str) -> Result<String> {
    let name = format!("t_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| {
            format!("connect to {admin_url} (are the test servers running? run scripts/test.sh)")
        })?;
    // The name is ours (hex digits), so it is safe to splice: CREATE DATABASE takes no parameters.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("create database {name}"))?;
    conn.close().await.ok();
    with_database(admin_url, &name)
}

/// `admin_url` with its database path replaced by `name` (query string kept).
fn with_database(admin_url: &str, name: &str) -> Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let Some(scheme_end) = base.find("://") else {
        bail!("not a URL: {admin_url}");
    };
    let authority_start = scheme_end + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_path() -> anyhow::Result<()> {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:15432/postgres", "t_1")?,
            "postgres://postgres@127.0.0.1:15432/t_1"
        );
        assert_eq!(
            with_database("postgres://h:1", "t_2")?,
            "postgres://h:1/t_2"
        );
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "t_3")?,
            "postgres://h/t_3?sslmode=disable"
        );
        assert!(with_database("nonsense", "x").is_err());
        Ok(())
    }
}
