//! `firedrill proxy serve` as a Toxiproxy: the `toxiproxy_rust` client
//! drives the built binary (populate, toxics on both streams, enable and
//! disable, reset) and the effects are measured on real connections to an
//! echo server behind the proxy; the API's error cases are checked with a
//! raw HTTP/1.1 client. Everything runs on loopback, each test against its
//! own server on a free port.
//!
//! `toxiproxy_rust` is blocking: these are plain `#[test]`s, no runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

mod common;
use common::http;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A `firedrill proxy serve` process, killed on drop.
struct Served {
    child: Child,
    api: SocketAddr,
}

impl Served {
    fn start(extra: &[&str]) -> Result<Served> {
        let mut child = spawn(extra)?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(IO_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("firedrill proxy serve did not print its ready line");
            }
        };
        let api = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no address in {line:?}"))?
            .parse()?;
        Ok(Served { child, api })
    }

    fn client(&self) -> Client {
        Client::new(self.api)
    }

    fn http(&self, method: &str, path: &str, body: &str) -> Result<(u16, Value)> {
        http(self.api, method, path, body)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(extra: &[&str]) -> Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(["proxy", "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// Waits for a process to end, killing it after `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if started.elapsed() > limit {
            child.kill()?;
            child.wait()?;
            bail!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

/// An echo server on loopback (lives as long as the test binary).
fn echo_server() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0; 16 * 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Ok(addr)
}

fn connect(addr: &str) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The shortest of three one-byte round trips on `stream`.
fn round_trip(stream: &mut TcpStream) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        stream.write_all(b"x")?;
        let mut byte = [0];
        stream.read_exact(&mut byte)?;
        best = best.min(started.elapsed());
    }
    Ok(best)
}

fn populate_one(client: &Client, name: &str, upstream: SocketAddr) -> Result<String> {
    let proxies = client
        .populate(vec![ProxyPack::new(
            name.into(),
            "127.0.0.1:0".into(),
            upstream.to_string(),
        )])
        .map_err(anyhow::Error::msg)?;
    ensure!(proxies.len() == 1, "populate returned {proxies:?}");
    Ok(proxies[0].proxy_pack.listen.clone())
}

#[test]
fn latency_on_both_streams_adds_up_and_reset_removes_it() -> Result<()> {
    let echo = echo_server()?;
    let served = Served::start(&[])?;
    let client = served.client();
    assert!(client.is_running());
    let listen = populate_one(&client, "echo", echo)?;
    let mut conn = connect(&listen)?;
    ensure!(round_trip(&mut conn)? < Duration::from_millis(50));

    let proxy = client.find_proxy("echo").map_err(anyhow::Error::msg)?;
    // On the open connection: downstream, then upstream too.
    proxy.with_latency("downstream".into(), 100, 0, 1.0);
    let rtt = round_trip(&mut conn)?;
    ensure!(
        rtt >= Duration::from_millis(95) && rtt < Duration::from_millis(190),
        "{rtt:?}"
    );
    proxy.with_latency("upstream".into(), 100, 0, 1.0);
    let rtt = round_trip(&mut conn)?;
    ensure!(
        rtt >= Duration::from_millis(195) && rtt < Duration::from_millis(290),
        "{rtt:?}"
    );

    let toxics = proxy.toxics().map_err(anyhow::Error::msg)?;
    let names: Vec<&str> = toxics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["latency_upstream", "latency_downstream"]);
    assert_eq!(toxics[0].attributes["latency"], 100);
    let all = client.all().map_err(anyhow::Error::msg)?;
    assert_eq!(all["echo"].proxy_pack.toxics.len(), 2);

    client.reset().map_err(anyhow::Error::msg)?;
    ensure!(round_trip(&mut conn)? < Duration::from_millis(50));
    assert!(proxy.toxics().map_err(anyhow::Error::msg)?.is_empty());
    Ok(())
}

#[test]
fn disable_refuses_clients_and_enable_restores_them() -> Result<()> {
    let echo = echo_server()?;
    let served = Served::start(&[])?;
    let client = served.client();
    let listen = populate_one(&client, "echo", echo)?;
    let proxy = client.find_proxy("echo").map_err(anyhow::Error::msg)?;
    let mut open = connect(&listen)?;
    round_trip(&mut open)?;

    let mut refused = false;
    proxy
        .with_down(|| refused = TcpStream::connect(&listen).is_err())
        .map_err(anyhow::Error::msg)?;
    assert!(refused, "a disabled proxy must refuse clients");
    // Down closed the open connection.
    let mut rest = Vec::new();
    assert!(matches!(open.read_to_end(&mut rest), Ok(0) | Err(_)));
    // Enabled again, on the same address.
    round_trip(&mut connect(&listen)?)?;

    proxy.disable().map_err(anyhow::Error::msg)?;
    let (_, shown) = served.http("GET", "/proxies/echo", "")?;
    assert_eq!(shown["enabled"], false);
    client.reset().map_err(anyhow::Error::msg)?;
    round_trip(&mut connect(&listen)?)?;
    let found = client
        .find_and_reset_proxy("echo")
        .map_err(anyhow::Error::msg)?;
    assert!(found.proxy_pack.enabled);
    Ok(())
}

#[test]
fn bandwidth_limit_data_and_timeout_act_on_real_connections() -> Result<()> {
    let echo = echo_server()?;
    let served = Served::start(&[])?;
    let client = served.client();
    let listen = populate_one(&client, "echo", echo)?;
    let proxy = client.find_proxy("echo").map_err(anyhow::Error::msg)?;

    // 50 KB at 100 KB/s: about half a second, every byte in order.
    proxy.with_bandwidth("downstream".into(), 100, 1.0);
    let mut conn = connect(&listen)?;
    let sent: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let started = Instant::now();
    conn.write_all(&sent)?;
    let mut got = vec![0; sent.len()];
    conn.read_exact(&mut got)?;
    let took = started.elapsed();
    assert_eq!(got, sent);
    ensure!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    proxy.delete_all_toxics().map_err(anyhow::Error::msg)?;

    // The slicer splits, but delivers every byte.
    proxy.with_slicer("upstream".into(), 64, 16, 10, 1.0);
    let mut conn = connect(&listen)?;
    conn.write_all(&sent[..5000])?;
    let mut got = vec![0; 5000];
    conn.read_exact(&mut got)?;
    assert_eq!(got, sent[..5000]);
    proxy.delete_all_toxics().map_err(anyhow::Error::msg)?;

    // limit_data: 10 bytes pass, then the connection closes.
    proxy.with_limit_data("downstream".into(), 10, 1.0);
    let mut conn = connect(&listen)?;
    conn.write_all(&sent[..100])?;
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    assert_eq!(got, sent[..10]);
    proxy.delete_all_toxics().map_err(anyhow::Error::msg)?;

    // timeout: no data, then a close after the timeout.
    proxy.with_timeout("upstream".into(), 300, 1.0);
    let mut conn = connect(&listen)?;
    let started = Instant::now();
    conn.write_all(b"hello")?;
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let took = started.elapsed();
    assert!(got.is_empty(), "{got:?}");
    ensure!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    Ok(())
}

#[test]
fn api_answers_with_toxiproxy_shapes_and_status_codes() -> Result<()> {
    let echo = echo_server()?;
    let served = Served::start(&[])?;
    let (status, version) = served.http("GET", "/version", "")?;
    assert_eq!(status, 200);
    assert!(version["version"].is_string());

    let create = json!({"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.to_string()});
    let (status, proxy) = served.http("POST", "/proxies", &create.to_string())?;
    assert_eq!(status, 201);
    assert_eq!(proxy["name"], "echo");
    assert_eq!(proxy["upstream"], echo.to_string());
    assert_eq!(proxy["enabled"], true);
    assert_eq!(proxy["toxics"], json!([]));
    let listen = proxy["listen"].as_str().context("listen")?.to_owned();
    assert!(
        listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"),
        "{listen}"
    );

    let toxic = json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 50}});
    let (status, created) = served.http("POST", "/proxies/echo/toxics", &toxic.to_string())?;
    assert_eq!(status, 200, "Toxiproxy answers 200 to a new toxic");
    assert_eq!(
        created,
        json!({"name": "latency_upstream", "type": "latency", "stream": "upstream", "toxicity": 1.0, "attributes": {"latency": 50, "jitter": 0}})
    );
    let (status, shown) = served.http("GET", "/proxies/echo/toxics/latency_upstream", "")?;
    assert_eq!((status, &shown), (200, &created));
    // PATCH merges attributes and takes effect on an open connection.
    let mut conn = connect(&listen)?;
    let (status, patched) = served.http(
        "PATCH",
        "/proxies/echo/toxics/latency_upstream",
        r#"{"attributes": {"latency": 150}}"#,
    )?;
    assert_eq!(status, 200);
    assert_eq!(patched["attributes"], json!({"latency": 150, "jitter": 0}));
    let rtt = round_trip(&mut conn)?;
    ensure!(rtt >= Duration::from_millis(145), "{rtt:?}");

    let (status, index) = served.http("GET", "/proxies", "")?;
    assert_eq!(status, 200);
    assert_eq!(index["echo"]["toxics"][0]["attributes"]["latency"], 150);
    let (status, toxics) = served.http("GET", "/proxies/echo/toxics", "")?;
    assert_eq!((status, toxics.as_array().map(Vec::len)), (200, Some(1)));

    let error = |status: u16, message: &str| json!({"error": message, "status": status});
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("GET", "/proxies/nope", "", 404, "proxy not found"),
        ("DELETE", "/proxies/nope", "", 404, "proxy not found"),
        ("GET", "/proxies/nope/toxics", "", 404, "proxy not found"),
        (
            "GET",
            "/proxies/echo/toxics/nope",
            "",
            404,
            "toxic not found",
        ),
        (
            "PATCH",
            "/proxies/echo/toxics/nope",
            "{}",
            404,
            "toxic not found",
        ),
        (
            "DELETE",
            "/proxies/echo/toxics/nope",
            "",
            404,
            "toxic not found",
        ),
        (
            "POST",
            "/proxies",
            &create.to_string(),
            409,
            "proxy already exists",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            &toxic.to_string(),
            409,
            "toxic already exists",
        ),
        (
            "POST",
            "/proxies",
            r#"{"listen": "127.0.0.1:0", "upstream": "h:1"}"#,
            400,
            "missing required field: name",
        ),
        (
            "POST",
            "/proxies",
            r#"{"name": "x"}"#,
            400,
            "missing required field: upstream",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            r#"{"type": "latency", "stream": "sideways"}"#,
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
    ];
    for (method, path, body, status, message) in cases {
        let answer = served.http(method, path, body)?;
        assert_eq!(
            answer,
            (*status, error(*status, message)),
            "{method} {path} {body}"
        );
    }
    let prefixed: &[(&str, &str, &str, &str)] = &[
        ("POST", "/proxies", "{\"name\": ", "bad request body: "),
        ("POST", "/populate", "not json", "bad request body: "),
        (
            "POST",
            "/proxies/echo/toxics",
            r#"{"type": "chaos"}"#,
            "invalid toxic type: \"chaos\"",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            r#"{"type": "latency", "attributes": {"latency": -1}}"#,
            "bad request body: attribute `latency` must be a non-negative integer",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            r#"{"type": "timeout", "attributes": {"timeout": 99999999999}}"#,
            "bad request body: attribute `timeout` = 99999999999 is absurd",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            r#"{"type": "latency", "toxicity": 2}"#,
            "bad request body: toxicity must be a number from 0.0 to 1.0",
        ),
        (
            "PATCH",
            "/proxies/echo/toxics/latency_upstream",
            r#"{"attributes": {"jitter": -3}}"#,
            "bad request body: attribute `jitter` must be a non-negative integer",
        ),
    ];
    for (method, path, body, start) in prefixed {
        let (status, answer) = served.http(method, path, body)?;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert_eq!(answer["status"], 400);
        let message = answer["error"].as_str().context("error")?;
        assert!(
            message.starts_with(start),
            "{method} {path} {body}: {message}"
        );
    }
    let (status, _) = served.http("GET", "/nothing/here", "")?;
    assert_eq!(status, 404);

    assert_eq!(
        served.http("DELETE", "/proxies/echo/toxics/latency_upstream", "")?,
        (204, Value::Null)
    );
    assert_eq!(served.http("POST", "/reset", "")?, (204, Value::Null));
    assert_eq!(
        served.http("DELETE", "/proxies/echo", "")?,
        (204, Value::Null)
    );
    assert!(
        TcpStream::connect(&listen).is_err(),
        "a deleted proxy stops listening"
    );
    assert_eq!(served.http("GET", "/proxies", "")?, (200, json!({})));
    Ok(())
}

#[test]
fn bad_input_leaves_running_proxies_and_their_connections_intact() -> Result<()> {
    let echo = echo_server()?;
    let served = Served::start(&[])?;
    let client = served.client();
    let listen = populate_one(&client, "echo", echo)?;
    let mut conn = connect(&listen)?;
    round_trip(&mut conn)?;
    let (_, before) = served.http("GET", "/proxies", "")?;

    let busy = TcpListener::bind("127.0.0.1:0")?;
    let busy_addr = busy.local_addr()?.to_string();
    let in_use = json!({"name": "other", "listen": busy_addr, "upstream": echo.to_string()});
    let (status, answer) = served.http("POST", "/proxies", &in_use.to_string())?;
    assert_eq!(status, 409);
    let message = answer["error"].as_str().context("error")?;
    assert!(
        message.starts_with(&format!("failed to listen on {busy_addr}")),
        "{message}"
    );

    // Moving the proxy onto a busy port fails; it stays where it was.
    let (status, _) = served.http(
        "PATCH",
        "/proxies/echo",
        &json!({"listen": busy_addr}).to_string(),
    )?;
    assert_eq!(status, 409);
    // A populate that fails half way changes nothing.
    let populate = json!([
        {"name": "fresh", "listen": "127.0.0.1:0", "upstream": echo.to_string()},
        {"name": "echo", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"name": "blocked", "listen": busy_addr, "upstream": echo.to_string()},
    ]);
    let (status, _) = served.http("POST", "/populate", &populate.to_string())?;
    assert_eq!(status, 409);
    for body in [
        "{",
        r#"[{"name": "x", "upstream": "h:1", "toxics": [{"type": "chaos"}]}]"#,
        r#"[{"name": "x", "upstream": "h:1", "toxics": [{"type": "latency", "attributes": {"latency": -5}}]}]"#,
        r#"[{"name": "x", "upstream": "h:1"}, {"name": "x", "upstream": "h:1"}]"#,
    ] {
        let (status, _) = served.http("POST", "/populate", body)?;
        assert_eq!(status, 400, "{body}");
    }
    let (_, after) = served.http("GET", "/proxies", "")?;
    assert_eq!(after, before);
    // The open connection still flows.
    ensure!(round_trip(&mut conn)? < Duration::from_millis(50));
    Ok(())
}

#[test]
fn config_files_declare_proxies_with_toxics() -> Result<()> {
    let echo = echo_server()?;
    let dir = tempfile::tempdir()?;
    let json_config = dir.path().join("proxies.json");
    std::fs::write(
        &json_config,
        json!([{
            "name": "slow", "listen": "127.0.0.1:0", "upstream": echo.to_string(),
            "toxics": [{"type": "latency", "attributes": {"latency": 100}}],
        }, {
            "name": "off", "listen": "127.0.0.1:0", "upstream": echo.to_string(), "enabled": false,
        }])
        .to_string(),
    )?;
    let toml_config = dir.path().join("proxies.toml");
    std::fs::write(
        &toml_config,
        format!(
            "[[proxies]]\nname = \"slow\"\nlisten = \"localhost:0\"\nupstream = \"{echo}\"\n\n\
             [[proxies.toxics]]\ntype = \"latency\"\nstream = \"upstream\"\nattributes = {{ latency = 100 }}\n"
        ),
    )?;
    for (config, toxic) in [
        (&json_config, "latency_downstream"),
        (&toml_config, "latency_upstream"),
    ] {
        let served = Served::start(&["--config", config.to_str().context("utf-8 path")?])?;
        let (_, proxies) = served.http("GET", "/proxies", "")?;
        assert_eq!(proxies["slow"]["toxics"][0]["name"], toxic, "{proxies}");
        let listen = proxies["slow"]["listen"].as_str().context("listen")?;
        let rtt = round_trip(&mut connect(listen)?)?;
        ensure!(rtt >= Duration::from_millis(95), "{rtt:?}");
        if config == &json_config {
            assert_eq!(proxies["off"]["enabled"], false);
        }
    }
    Ok(())
}

/// Which of 24 sequential connections a `reset_peer` toxic with toxicity
/// 0.5 hit, on a server started with `--seed seed`.
fn reset_pattern(echo: SocketAddr, seed: &str) -> Result<Vec<bool>> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("proxies.json");
    std::fs::write(
        &config,
        json!([{
            "name": "coin", "listen": "127.0.0.1:0", "upstream": echo.to_string(),
            "toxics": [{"type": "reset_peer", "toxicity": 0.5, "attributes": {"timeout": 0}}],
        }])
        .to_string(),
    )?;
    let served = Served::start(&[
        "--seed",
        seed,
        "--config",
        config.to_str().context("utf-8")?,
    ])?;
    let (_, proxies) = served.http("GET", "/proxies", "")?;
    let listen = proxies["coin"]["listen"]
        .as_str()
        .context("listen")?
        .to_owned();
    let mut hit = Vec::new();
    for _ in 0..24 {
        let mut stream = connect(&listen)?;
        let reset = stream.write_all(b"x").is_err() || {
            let mut byte = [0];
            stream.read_exact(&mut byte).is_err()
        };
        hit.push(reset);
    }
    Ok(hit)
}

#[test]
fn the_seed_decides_which_connections_a_toxic_hits() -> Result<()> {
    let echo = echo_server()?;
    let first = reset_pattern(echo, "7")?;
    ensure!(
        first.contains(&true) && first.contains(&false),
        "toxicity 0.5 hit {first:?}"
    );
    assert_eq!(first, reset_pattern(echo, "7")?, "same seed, same choices");
    assert_ne!(
        first,
        reset_pattern(echo, "8")?,
        "another seed, other choices"
    );
    Ok(())
}

#[test]
fn bad_config_and_busy_api_address_fail_with_clear_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = [
        (
            "malformed.json",
            "[{\"name\": ",
            "failed to parse proxy config",
        ),
        (
            "unknown.json",
            r#"[{"name": "a", "upstream": "h:1", "toxics": [{"type": "chaos"}]}]"#,
            "invalid toxic type: \"chaos\"",
        ),
        (
            "negative.toml",
            "[[proxies]]\nname = \"a\"\nupstream = \"h:1\"\n[[proxies.toxics]]\ntype = \"latency\"\nattributes = { latency = -1 }\n",
            "must be a non-negative integer",
        ),
    ];
    for (file, text, message) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text)?;
        let mut child = spawn(&["--config", path.to_str().context("utf-8 path")?])?;
        let status = wait_exit(&mut child, IO_TIMEOUT)?;
        let stderr = stderr_of(&mut child);
        assert_eq!(status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(message), "{file}: {stderr}");
    }
    let missing = dir.path().join("missing.json");
    let mut child = spawn(&["--config", missing.to_str().context("utf-8 path")?])?;
    assert_eq!(wait_exit(&mut child, IO_TIMEOUT)?.code(), Some(2));
    assert!(stderr_of(&mut child).contains("failed to read proxy config"));

    let busy = TcpListener::bind("127.0.0.1:0")?;
    let busy_addr = busy.local_addr()?.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(["proxy", "serve", "--listen", &busy_addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    assert_eq!(wait_exit(&mut child, IO_TIMEOUT)?.code(), Some(3));
    let stderr = stderr_of(&mut child);
    assert!(
        stderr.contains(&format!("failed to listen on {busy_addr}")),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn ctrl_c_stops_the_server_and_its_proxies() -> Result<()> {
    let echo = echo_server()?;
    let mut served = Served::start(&[])?;
    let listen = populate_one(&served.client(), "echo", echo)?;
    let mut conn = connect(&listen)?;
    round_trip(&mut conn)?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(served.child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
    let status = wait_exit(&mut served.child, Duration::from_secs(5))?;
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(&listen).is_err(), "the proxy is gone");
    let mut rest = Vec::new();
    assert!(matches!(conn.read_to_end(&mut rest), Ok(0) | Err(_)));
    Ok(())
}

#[test]
fn updating_a_proxy_moves_it_and_keeps_its_toxics() -> Result<()> {
    let echo = echo_server()?;
    let other_echo = echo_server()?;
    let served = Served::start(&[])?;
    let listen = populate_one(&served.client(), "echo", echo)?;
    let toxic = json!({"type": "latency", "attributes": {"latency": 100}});
    assert_eq!(
        served
            .http("POST", "/proxies/echo/toxics", &toxic.to_string())?
            .0,
        200
    );
    let (status, updated) = served.http(
        "POST",
        "/proxies/echo",
        &json!({"upstream": other_echo.to_string()}).to_string(),
    )?;
    assert_eq!(status, 200);
    assert_eq!(updated["upstream"], other_echo.to_string());
    assert_eq!(
        updated["listen"], listen,
        "the same port, since it was bound"
    );
    assert_eq!(updated["toxics"][0]["name"], "latency_downstream");
    let rtt = round_trip(&mut connect(&listen)?)?;
    ensure!(rtt >= Duration::from_millis(95), "{rtt:?}");
    Ok(())
}
