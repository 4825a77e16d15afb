//! A scripted, hostile IMAP server on loopback: it speaks just enough IMAP4rev1 for the daemon's
//! watcher to log in, EXAMINE the INBOX and list one message, then misbehaves in the way its
//! [`Behaviour`] says when the daemon fetches that message's body. The privacy and robustness
//! tests link a mailbox to it (plaintext, loopback) next to mailboxes on the real Dovecot.
//!
//! Every connection gets the same script, so a watcher that reconnects meets the same fault
//! again; [`HostileImap::body_fetches`] counts how often the fault was served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does when asked for the body of its one message.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Sends the whole message as a literal, followed by an extension item whose value nests
    /// parentheses (`X-HOSTILE-ITEM (1 (2))`, well-formed IMAP), which imap-proto's catch-all
    /// for unknown items cannot parse: the response fails once the body has been read.
    UnparsableFetchItem { message: Vec<u8> },
}

/// The server; stops when dropped.
pub struct HostileImap {
    addr: SocketAddr,
    body_fetches: Arc<AtomicU64>,
    commands: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl HostileImap {
    /// Listens on `127.0.0.1:<free port>` and serves every connection with `behaviour`.
    pub async fn start(behaviour: Behaviour) -> Result<HostileImap> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the hostile IMAP server")?;
        let addr = listener.local_addr()?;
        let body_fetches = Arc::new(AtomicU64::new(0));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            body_fetches: Arc::clone(&body_fetches),
            commands: Arc::clone(&commands),
        };
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let behaviour = behaviour.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    // A broken connection is the client's business; the next one starts afresh.
                    let _ = serve(stream, &behaviour, &shared).await;
                });
            }
        });
        Ok(HostileImap {
            addr,
            body_fetches,
            commands,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many body fetches the server answered with its fault so far.
    pub fn body_fetches(&self) -> u64 {
        self.body_fetches.load(Ordering::Relaxed)
    }

    /// Every command line received so far (LOGIN's arguments left out), for failure messages.
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// What the connections report back to the test.
#[derive(Clone)]
struct Shared {
    body_fetches: Arc<AtomicU64>,
    commands: Arc<Mutex<Vec<String>>>,
}

impl Drop for HostileImap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The UID and UIDVALIDITY of the one message.
const UID: u32 = 1;
const UIDVALIDITY: u32 = 7;

async fn serve(stream: TcpStream, behaviour: &Behaviour, shared: &Shared) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"* OK [CAPABILITY IMAP4rev1] hostile server ready\r\n")
        .await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let Some((tag, rest)) = command.split_once(' ') else {
            continue;
        };
        let upper = rest.to_ascii_uppercase();
        if let Ok(mut commands) = shared.commands.lock() {
            commands.push(if upper.starts_with("LOGIN") {
                format!("{tag} LOGIN ***")
            } else {
                command.to_owned()
            });
        }
        let reply: Vec<u8> = if upper.starts_with("CAPABILITY") {
            format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n").into_bytes()
        } else if upper.starts_with("LOGIN") {
            format!("{tag} OK logged in\r\n").into_bytes()
        } else if upper.starts_with("EXAMINE") {
            format!(
                "* 1 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY {UIDVALIDITY}] ok\r\n\
                 * OK [UIDNEXT {next}] ok\r\n{tag} OK [READ-ONLY] done\r\n",
                next = UID + 1
            )
            .into_bytes()
        } else if upper.starts_with("FETCH") {
            // The backfill's sequence-number listing.
            format!("* 1 FETCH (UID {UID})\r\n{tag} OK done\r\n").into_bytes()
        } else if upper.starts_with("UID FETCH") && upper.contains("BODY.PEEK[]") {
            shared.body_fetches.fetch_add(1, Ordering::Relaxed);
            body_reply(tag, behaviour)
        } else if upper.starts_with("UID FETCH") {
            let size = match behaviour {
                Behaviour::UnparsableFetchItem { message } => message.len(),
            };
            format!(
                "* 1 FETCH (UID {UID} RFC822.SIZE {size} INTERNALDATE \"19-Nov-2026 10:15:00 +0100\")\r\n\
                 {tag} OK done\r\n"
            )
            .into_bytes()
        } else if upper.starts_with("NOOP") {
            format!("{tag} OK done\r\n").into_bytes()
        } else if upper.starts_with("LOGOUT") {
            write
                .write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes())
                .await?;
            return Ok(());
        } else {
            format!("{tag} BAD unknown command\r\n").into_bytes()
        };
        write.write_all(&reply).await?;
    }
}

fn body_reply(tag: &str, behaviour: &Behaviour) -> Vec<u8> {
    match behaviour {
        Behaviour::UnparsableFetchItem { message } => {
            let mut out =
                format!("* 1 FETCH (UID {UID} BODY[] {{{}}}\r\n", message.len()).into_bytes();
            out.extend_from_slice(message);
            out.extend_from_slice(
                format!(" X-HOSTILE-ITEM (1 (2)))\r\n{tag} OK done\r\n").as_bytes(),
            );
            out
        }
    }
}
