//! The Graph emulator as a standalone server, for manual runs and load tests:
//!
//!   cargo run -p mailsig-tests --bin graph-emulator -- --listen 127.0.0.1:8090 \
//!       --app CLIENT_ID:SECRET:http://127.0.0.1:8080/oauth/microsoft/callback --user alice@contoso.test
//!
//! It prints the authority and Graph URLs to configure the daemon with, then serves until Ctrl-C.
//! Drive it through its control API (`/_emulator/…`, see `graph_emulator::admin` in the sources):
//! `POST /_emulator/users/{email}/messages` with a raw MIME body delivers a message and notifies.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use mailsig_tests::graph_emulator::GraphEmulator;

#[tokio::main]
async fn main() -> Result<()> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut apps = Vec::new();
    let mut users = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?.parse().context("--listen takes ADDRESS:PORT")?,
            "--app" => apps.push(value()?),
            "--user" => users.push(value()?),
            "--help" | "-h" => {
                println!(
                    "graph-emulator [--listen 127.0.0.1:PORT] [--app ID:SECRET:REDIRECT_URI]... [--user EMAIL]..."
                );
                return Ok(());
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    let graph = GraphEmulator::start_on(listen).await?;
    for app in &apps {
        let mut parts = app.splitn(3, ':');
        let (Some(id), Some(secret), Some(redirect)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("--app takes CLIENT_ID:SECRET:REDIRECT_URI, not {app}");
        };
        graph.register_app(id, secret, redirect);
    }
    for user in &users {
        let id = graph.add_user(user, user);
        println!("user {user} id {id}");
    }
    println!("authority {}", graph.authority_url());
    println!("graph     {}", graph.graph_url());
    println!("control   {}/_emulator/", graph.base_url());
    tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
    Ok(())
}
