//! The hub in process, on 127.0.0.1, driven by a plain tungstenite client.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Hub, fetch_view};

const LIMIT: Duration = Duration::from_secs(10);
const STEP: Duration = Duration::from_secs(2);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

async fn start(hub: Hub) -> Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(Running { addr, stop, server })
}

impl Running {
    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(STEP, self.server).await???;
        Ok(())
    }
}

async fn open(addr: SocketAddr, client: &str) -> Result<Ws> {
    let url = format!("ws://{addr}/ws?client={client}");
    let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url)).await??;
    Ok(ws)
}

/// The next data or pong frame (tungstenite answers pings itself).
async fn next(ws: &mut Ws) -> Result<Frame> {
    loop {
        match tokio::time::timeout(STEP, ws.next()).await? {
            Some(Ok(Frame::Ping(_))) => continue,
            Some(frame) => return Ok(frame?),
            None => bail!("the hub closed the connection"),
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    match next(ws).await? {
        Frame::Text(text) => Ok(text.as_str().to_owned()),
        other => bail!("expected a text frame, got {other:?}"),
    }
}

fn message(client: &str, seq: u64) -> Frame {
    Frame::text(format!(
        r#"{{"client":"{client}","seq":{seq},"body":"m{seq}"}}"#
    ))
}

#[tokio::test]
async fn hub_records_then_acks_and_deduplicates() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let running = start(hub.clone()).await?;
        let mut ws = open(running.addr, "a").await?;
        for seq in [1, 2, 2, 4] {
            ws.send(message("a", seq)).await?;
            assert_eq!(next_text(&mut ws).await?, format!(r#"{{"ack":{seq}}}"#));
            // Recorded before the ack went out.
            let view = hub.view("");
            assert!(view.clients.get("a").is_some_and(|c| c.contains(seq)));
        }
        let view = hub.view("");
        let a = view.clients.get("a").context("client a recorded")?;
        assert_eq!(a.ranges, vec![(1, 2), (4, 4)]);
        assert_eq!((a.received, a.duplicates), (3, 1));
        assert_eq!(a.missing(5), vec![3, 5]);
        assert_eq!((view.messages_seen, view.duplicates), (4, 1));
        assert_eq!((view.connections_open, view.connections_total), (1, 1));
        running.stop().await
    })
    .await?
}

#[tokio::test]
async fn hub_answers_text_ping_and_websocket_ping() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let running = start(Hub::new()).await?;
        let mut ws = open(running.addr, "p").await?;
        // Unknown text and binary frames are ignored: the next reply is the pong.
        ws.send(Frame::text("hello")).await?;
        ws.send(Frame::binary(vec![1, 2, 3])).await?;
        ws.send(Frame::text("ping")).await?;
        assert_eq!(next_text(&mut ws).await?, "pong");
        ws.send(Frame::Ping(b"beat".to_vec().into())).await?;
        match next(&mut ws).await? {
            Frame::Pong(payload) => assert_eq!(&payload[..], b"beat"),
            other => bail!("expected a pong, got {other:?}"),
        }
        running.stop().await
    })
    .await?
}

#[tokio::test]
async fn stats_over_http_filter_clients_by_prefix() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let running = start(Hub::new()).await?;
        for (client, count) in [("drill-a", 3), ("drill-b", 2), ("other", 1)] {
            let mut ws = open(running.addr, client).await?;
            for seq in 1..=count {
                ws.send(message(client, seq)).await?;
                next_text(&mut ws).await?;
            }
            ws.close(None).await?;
        }
        let all = fetch_view(running.addr, "", STEP).await?;
        assert_eq!(all.clients.len(), 3);
        assert_eq!(all.messages_seen, 6);
        let drill = fetch_view(running.addr, "drill-", STEP).await?;
        assert_eq!(
            drill.clients.keys().collect::<Vec<_>>(),
            ["drill-a", "drill-b"]
        );
        assert_eq!(drill.messages_seen, 5);
        // Connection counts are global, whatever the prefix.
        assert_eq!(drill.connections_total, 3);
        let none = fetch_view(running.addr, "nobody", STEP).await?;
        assert!(none.clients.is_empty() && none.messages_seen == 0);

        let mut tcp = TcpStream::connect(running.addr).await?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        tcp.read_to_string(&mut response).await?;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");
        running.stop().await
    })
    .await?
}

#[tokio::test]
async fn stopping_the_hub_closes_open_websockets() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let running = start(hub.clone()).await?;
        let addr = running.addr;
        let mut ws = open(addr, "s").await?;
        ws.send(message("s", 1)).await?;
        next_text(&mut ws).await?;
        running.stop().await?;
        match tokio::time::timeout(STEP, ws.next()).await? {
            Some(Ok(Frame::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
            other => bail!("expected a close frame, got {other:?}"),
        }
        assert_eq!(hub.view("").connections_open, 0);
        // The port is free again and the same hub keeps what it received.
        let listener = TcpListener::bind(addr).await?;
        drop(listener);
        assert!(hub.view("s").clients.contains_key("s"));
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn fetch_view_reports_unreachable_hub() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    let error = fetch_view(addr, "", STEP)
        .await
        .err()
        .context("nothing listens")?;
    assert!(error.to_string().starts_with("failed to fetch"), "{error}");
    Ok(())
}
