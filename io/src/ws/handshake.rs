//! The opening handshake (RFC 6455 §4.2): which requests are WebSocket
//! upgrades, what makes one invalid, and the `Sec-WebSocket-Accept` answer.

use crate::http::Request;

/// A valid WebSocket upgrade request, checked before the handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The `Sec-WebSocket-Accept` value for the response.
    pub accept: String,
    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in order.
    pub protocols: Vec<String>,
}

/// Why an upgrade request was refused; answered without running the handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct HandshakeError {
    /// 400, or 426 for an unsupported version (sent with
    /// `Sec-WebSocket-Version: 13`).
    pub status: u16,
    /// What was wrong.
    pub reason: &'static str,
}

fn bad(reason: &'static str) -> HandshakeError {
    HandshakeError {
        status: 400,
        reason,
    }
}

fn has_token(req: &Request, name: &str, token: &str) -> bool {
    req.headers().get_all(name).any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Whether `req` asks for a WebSocket (`Upgrade: websocket`), valid or not.
pub fn is_websocket_request(req: &Request) -> bool {
    has_token(req, "upgrade", "websocket")
}

/// Checks a request that asks for a WebSocket.
pub fn check(req: &Request) -> Result<Handshake, HandshakeError> {
    if req.method() != "GET" {
        return Err(bad("a WebSocket handshake must be a GET request"));
    }
    if req.is_http10() {
        return Err(bad("a WebSocket handshake needs HTTP/1.1"));
    }
    if !has_token(req, "connection", "upgrade") {
        return Err(bad(
            "a WebSocket handshake needs `Connection: Upgrade` (RFC 6455 §4.2.1)",
        ));
    }
    match req.header("sec-websocket-version") {
        Some(v) if v.trim_ascii() == b"13" => {}
        _ => {
            return Err(HandshakeError {
                status: 426,
                reason: "unsupported WebSocket version: this server speaks version 13",
            });
        }
    }
    let key = req
        .header("sec-websocket-key")
        .map(|k| k.trim_ascii())
        .ok_or_else(|| bad("missing Sec-WebSocket-Key"))?;
    // A base64-encoded 16-byte nonce is 24 characters ending in "==".
    let valid_key = key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/');
    if !valid_key {
        return Err(bad(
            "Sec-WebSocket-Key is not a base64-encoded 16-byte value",
        ));
    }
    let protocols = req
        .headers()
        .get_all("sec-websocket-protocol")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t.trim_ascii()).into_owned())
        .filter(|t| !t.is_empty())
        .collect();
    Ok(Handshake {
        accept: tungstenite::handshake::derive_accept_key(key),
        protocols,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_of_rfc_6455_example() {
        assert_eq!(
            tungstenite::handshake::derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
