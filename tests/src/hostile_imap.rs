//! A scripted, hostile IMAP server on loopback: it speaks just enough IMAP4rev1 for the daemon's
//! watcher to log in, EXAMINE the INBOX and list one message, then misbehaves in the way its
//! [`Behaviour`] says (mostly when the daemon fetches that message's body). The privacy and
//! robustness tests link a mailbox to it (plaintext, loopback) next to mailboxes on the real
//! Dovecot.
//!
//! Every connection gets the same script, so a watcher that reconnects meets the same fault
//! again; [`HostileImap::body_fetches`] counts how often the fault was served and
//! [`HostileImap::connections`] how often the daemon came back. Large answers are streamed in
//! chunks, never built in memory, so the server's own size does not blur the daemon's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does when asked for the body of its one message.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Sends the whole message as a literal, followed by an extension item whose value nests
    /// parentheses (`X-HOSTILE-ITEM (1 (2))`, well-formed IMAP), which imap-proto's catch-all
    /// for unknown items cannot parse: the response fails once the body has been read.
    UnparsableFetchItem { message: Vec<u8> },
    /// Lists the message with `RFC822.SIZE claimed`, then answers the body fetch with a literal
    /// of `literal` bytes, streamed for as long as the daemon reads.
    SizeLie { claimed: u32, literal: u64 },
    /// Answers CAPABILITY and EXAMINE with `folders` `* LIST` lines each (as a server that
    /// pushes its whole folder tree at the client would), then serves `message` normally.
    ManyFolders { folders: u32, message: Vec<u8> },
    /// Answers the body fetch with a literal header, then one byte every `every`, forever.
    Trickle { every: Duration },
    /// Answers the body fetch with a line of `bytes` bytes that never ends (no CRLF), then
    /// waits for the next command on the open connection.
    EndlessLine { bytes: u64 },
    /// Not hostile, only unlucky timing: `second` arrives while the client fetches `first`'s
    /// body, and is announced (`* 2 EXISTS`) in that fetch's answer, as a real server does.
    /// The server supports IDLE and, like Dovecot, does not announce it again when IDLE starts.
    NewMailDuringFetch { first: Vec<u8>, second: Vec<u8> },
}

impl Behaviour {
    /// The RFC822.SIZE the listing claims.
    fn claimed_size(&self) -> usize {
        match self {
            Behaviour::UnparsableFetchItem { message } | Behaviour::ManyFolders { message, .. } => {
                message.len()
            }
            Behaviour::SizeLie { claimed, .. } => *claimed as usize,
            Behaviour::Trickle { .. } | Behaviour::EndlessLine { .. } => 1000,
            Behaviour::NewMailDuringFetch { first, .. } => first.len(),
        }
    }
}

/// The server; stops when dropped.
pub struct HostileImap {
    addr: SocketAddr,
    body_fetches: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    body_bytes_sent: Arc<AtomicU64>,
    commands: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl HostileImap {
    /// Listens on `127.0.0.1:<free port>` and serves every connection with `behaviour`.
    pub async fn start(behaviour: Behaviour) -> Result<HostileImap> {
        HostileImap::start_on(0, behaviour).await
    }

    /// [`HostileImap::start`] on a given port (0: any free one), e.g. to come back after an
    /// outage on the port a mailbox was linked to.
    pub async fn start_on(port: u16, behaviour: Behaviour) -> Result<HostileImap> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .context("bind the hostile IMAP server")?;
        let addr = listener.local_addr()?;
        let shared = Shared::default();
        let (body_fetches, connections, body_bytes_sent, commands) = (
            Arc::clone(&shared.body_fetches),
            Arc::clone(&shared.connections),
            Arc::clone(&shared.body_bytes_sent),
            Arc::clone(&shared.commands),
        );
        let task = tokio::spawn(async move {
            // Dropping the server (this task aborted) ends every connection too: an outage.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let behaviour = behaviour.clone();
                let shared = shared.clone();
                connections.spawn(async move {
                    // A broken connection is the client's business; the next one starts afresh.
                    let _ = serve(stream, &behaviour, &shared).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(HostileImap {
            addr,
            body_fetches,
            connections,
            body_bytes_sent,
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

    /// How many connections the daemon opened so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// How many bytes of body answers (literal or endless line) the daemon accepted so far.
    pub fn body_bytes_sent(&self) -> u64 {
        self.body_bytes_sent.load(Ordering::Relaxed)
    }

    /// Every command line received so far (LOGIN's arguments left out), for failure messages.
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// What the connections report back to the test.
#[derive(Clone, Default)]
struct Shared {
    body_fetches: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    body_bytes_sent: Arc<AtomicU64>,
    commands: Arc<Mutex<Vec<String>>>,
    /// [`Behaviour::NewMailDuringFetch`]: the second message exists (for every connection).
    second_arrived: Arc<std::sync::atomic::AtomicBool>,
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
        if let Behaviour::NewMailDuringFetch { first, second } = behaviour {
            if !two_messages(&mut write, &mut lines, tag, &upper, [first, second], shared).await? {
                return Ok(());
            }
            continue;
        }
        if (upper.starts_with("CAPABILITY") || upper.starts_with("EXAMINE"))
            && let Behaviour::ManyFolders { folders, .. } = behaviour
        {
            folder_list(&mut write, *folders).await?;
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
            body_reply(&mut write, tag, behaviour, shared).await?;
            continue;
        } else if upper.starts_with("UID FETCH") {
            let size = behaviour.claimed_size();
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

/// One command of [`Behaviour::NewMailDuringFetch`]'s two-message INBOX (UIDs 1 and 2).
/// Returns `false` when the client logged out.
async fn two_messages(
    write: &mut OwnedWriteHalf,
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    tag: &str,
    upper: &str,
    messages: [&Vec<u8>; 2],
    shared: &Shared,
) -> Result<bool> {
    let arrived = shared.second_arrived.load(Ordering::SeqCst);
    let count: u32 = if arrived { 2 } else { 1 };
    let reply = if upper.starts_with("CAPABILITY") {
        format!("* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n")
    } else if upper.starts_with("LOGIN") {
        format!("{tag} OK logged in\r\n")
    } else if upper.starts_with("EXAMINE") {
        format!(
            "* {count} EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY {UIDVALIDITY}] ok\r\n\
             * OK [UIDNEXT {next}] ok\r\n{tag} OK [READ-ONLY] done\r\n",
            next = count + 1
        )
    } else if upper.starts_with("FETCH") {
        let mut out = String::new();
        for uid in 1..=count {
            out.push_str(&format!("* {uid} FETCH (UID {uid})\r\n"));
        }
        out + &format!("{tag} OK done\r\n")
    } else if upper.starts_with("UID FETCH") && upper.contains("BODY.PEEK[]") {
        shared.body_fetches.fetch_add(1, Ordering::Relaxed);
        let uid: u32 = upper
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let Some(message) = uid.checked_sub(1).and_then(|i| messages.get(i as usize)) else {
            write
                .write_all(format!("{tag} OK done\r\n").as_bytes())
                .await?;
            return Ok(true);
        };
        let mut out = Vec::new();
        if uid == 1 && !arrived {
            shared.second_arrived.store(true, Ordering::SeqCst);
            out.extend_from_slice(b"* 2 EXISTS\r\n");
        }
        out.extend_from_slice(
            format!("* {uid} FETCH (UID {uid} BODY[] {{{}}}\r\n", message.len()).as_bytes(),
        );
        out.extend_from_slice(message);
        out.extend_from_slice(format!(")\r\n{tag} OK done\r\n").as_bytes());
        write.write_all(&out).await?;
        return Ok(true);
    } else if upper.starts_with("UID FETCH") {
        // `UID FETCH n:* (...)`: the messages from n on, or the highest one (RFC 3501).
        let from: u32 = upper
            .split_whitespace()
            .nth(2)
            .and_then(|range| range.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let mut out = String::new();
        for uid in from.min(count)..=count {
            let size = messages[uid as usize - 1].len();
            out.push_str(&format!(
                "* {uid} FETCH (UID {uid} RFC822.SIZE {size} INTERNALDATE \"19-Nov-2026 10:15:00 +0100\")\r\n"
            ));
        }
        out + &format!("{tag} OK done\r\n")
    } else if upper.starts_with("IDLE") {
        // Nothing new to say: the second message was announced already.
        write.write_all(b"+ idling\r\n").await?;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(false);
            }
            if line.trim().eq_ignore_ascii_case("DONE") {
                break;
            }
        }
        format!("{tag} OK idle done\r\n")
    } else if upper.starts_with("LOGOUT") {
        write
            .write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes())
            .await?;
        return Ok(false);
    } else if upper.starts_with("NOOP") {
        format!("{tag} OK done\r\n")
    } else {
        format!("{tag} BAD unknown command\r\n")
    };
    write.write_all(reply.as_bytes()).await?;
    Ok(true)
}

/// `* LIST` lines for `count` folders, written in batches.
async fn folder_list(write: &mut OwnedWriteHalf, count: u32) -> Result<()> {
    let mut batch = Vec::with_capacity(64 * 1024);
    for i in 0..count {
        batch.extend_from_slice(
            format!("* LIST (\\HasNoChildren) \"/\" \"Archive/folder-{i:05}\"\r\n").as_bytes(),
        );
        if batch.len() > 60 * 1024 {
            write.write_all(&batch).await?;
            batch.clear();
        }
    }
    write.write_all(&batch).await?;
    Ok(())
}

/// Writes `total` filler bytes in chunks, counting what the peer accepted.
async fn stream_filler(write: &mut OwnedWriteHalf, total: u64, shared: &Shared) -> Result<()> {
    const CHUNK: usize = 64 * 1024;
    let chunk = vec![b'a'; CHUNK];
    let mut left = total;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        write.write_all(&chunk[..n]).await?;
        shared
            .body_bytes_sent
            .fetch_add(n as u64, Ordering::Relaxed);
        left -= n as u64;
    }
    Ok(())
}

/// Answers the body fetch the way `behaviour` says. An error means the daemon hung up.
async fn body_reply(
    write: &mut OwnedWriteHalf,
    tag: &str,
    behaviour: &Behaviour,
    shared: &Shared,
) -> Result<()> {
    match behaviour {
        // Served by `two_messages`.
        Behaviour::NewMailDuringFetch { .. } => {}
        Behaviour::UnparsableFetchItem { message } => {
            let mut out =
                format!("* 1 FETCH (UID {UID} BODY[] {{{}}}\r\n", message.len()).into_bytes();
            out.extend_from_slice(message);
            out.extend_from_slice(
                format!(" X-HOSTILE-ITEM (1 (2)))\r\n{tag} OK done\r\n").as_bytes(),
            );
            write.write_all(&out).await?;
        }
        Behaviour::ManyFolders { message, .. } => {
            let mut out =
                format!("* 1 FETCH (UID {UID} BODY[] {{{}}}\r\n", message.len()).into_bytes();
            out.extend_from_slice(message);
            out.extend_from_slice(format!(")\r\n{tag} OK done\r\n").as_bytes());
            write.write_all(&out).await?;
        }
        Behaviour::SizeLie { literal, .. } => {
            write
                .write_all(format!("* 1 FETCH (UID {UID} BODY[] {{{literal}}}\r\n").as_bytes())
                .await?;
            stream_filler(write, *literal, shared).await?;
            write
                .write_all(format!(")\r\n{tag} OK done\r\n").as_bytes())
                .await?;
        }
        Behaviour::Trickle { every } => {
            write
                .write_all(format!("* 1 FETCH (UID {UID} BODY[] {{1000}}\r\n").as_bytes())
                .await?;
            loop {
                tokio::time::sleep(*every).await;
                write.write_all(b"a").await?;
                shared.body_bytes_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Behaviour::EndlessLine { bytes } => {
            write
                .write_all(format!("* 1 FETCH (UID {UID} X-FILLER ").as_bytes())
                .await?;
            // Never a CRLF; the connection stays open until the daemon gives up on it.
            stream_filler(write, *bytes, shared).await?;
        }
    }
    Ok(())
}
