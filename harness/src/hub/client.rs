//! Reading a hub's view from outside: one plain HTTP/1.1 GET with
//! `Connection: close`, so the harness needs no HTTP client crate.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{HubError, HubView};

/// Largest `/stats` answer accepted (a view of many clients with scattered
/// seqs is big, but not this big).
const MAX_RESPONSE: u64 = 64 << 20;

/// Fetch `GET /stats?prefix=<prefix>` from the hub at `http`, all of it within
/// `timeout`.
pub async fn fetch_view(
    http: SocketAddr,
    prefix: &str,
    timeout: Duration,
) -> Result<HubView, HubError> {
    tokio::time::timeout(timeout, fetch(http, prefix))
        .await
        .map_err(|_| HubError::Timeout {
            addr: http,
            after: timeout,
        })?
}

async fn fetch(addr: SocketAddr, prefix: &str) -> Result<HubView, HubError> {
    let io = |source| HubError::Fetch { addr, source };
    let mut tcp = TcpStream::connect(addr).await.map_err(io)?;
    let request = format!(
        "GET /stats?prefix={} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        percent_encode(prefix)
    );
    tcp.write_all(request.as_bytes()).await.map_err(io)?;
    let mut response = Vec::new();
    tcp.take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .await
        .map_err(io)?;
    let body = http_body(&response).map_err(|reason| HubError::BadResponse { addr, reason })?;
    serde_json::from_slice(&body).map_err(|e| HubError::BadResponse {
        addr,
        reason: format!("the body is not a hub view: {e}"),
    })
}

/// The body of a complete `200` response (plain or chunked).
fn http_body(response: &[u8]) -> Result<Vec<u8>, String> {
    let split = find(response, b"\r\n\r\n").ok_or("the response has no header end")?;
    let head = std::str::from_utf8(&response[..split]).map_err(|_| "the header is not UTF-8")?;
    let body = &response[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        let text = String::from_utf8_lossy(body);
        return Err(format!("HTTP status {status_line:?}: {}", text.trim()));
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    if chunked {
        return dechunk(body);
    }
    match length {
        Some(n) if body.len() < n => Err(format!(
            "the body is truncated ({} of {n} bytes)",
            body.len()
        )),
        Some(n) => Ok(body[..n].to_vec()),
        None => Ok(body.to_vec()),
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or("a chunk size line is unterminated")?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("a chunk is truncated")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("a chunk is truncated")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Percent-encode a query value (everything but RFC 3986 unreserved bytes).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(http_body(plain).as_deref(), Ok(&b"{}"[..]));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n2;x=y\r\n\":\r\n0\r\n\r\n";
        assert_eq!(http_body(chunked).as_deref(), Ok(&b"{\"a\":"[..]));
        let missing = b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope";
        assert!(http_body(missing).is_err_and(|e| e.contains("404")));
        let truncated = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}";
        assert!(http_body(truncated).is_err());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(percent_encode("drill-1.a_b~"), "drill-1.a_b~");
        assert_eq!(percent_encode("a b&c=/é"), "a%20b%26c%3D%2F%C3%A9");
    }
}
