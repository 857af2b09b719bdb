//! The request target and the `Host` header (RFC 9112 §3.2–3.3): which of
//! the four forms a target takes, whether an authority is well formed, and
//! the target URI rebuilt from those validated parts with the `url` crate.
//!
//! What a script sees as `request.url` comes from here, so nothing a client
//! sends may move one part of the URL into another: a `Host` of `x/admin?`
//! must not become a path, a target of `@other/p` must not become a host.
//! Each part is checked on its own ([`classify`], [`is_authority`]) and the
//! URL is put together by setting its parts ([`TargetUri`]), never by
//! gluing strings and parsing the result.

use std::ops::Range;

use url::Url;

/// The form of a request target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`: the usual form, for every method but `CONNECT`.
    Origin,
    /// `http://authority/path?query`: a request meant for a proxy, which a
    /// server must accept too; its authority names the target (not `Host`).
    Absolute,
    /// `host:port`: `CONNECT` only.
    Authority,
    /// `*`: `OPTIONS` only (the server as a whole).
    Asterisk,
}

/// Where the parts of a classified target lie, as ranges of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its form.
    pub form: TargetForm,
    /// The authority it names (absolute- and authority-form), if any.
    pub authority: Option<Range<usize>>,
    /// The path and query (`/a?b`; empty for authority- and asterisk-form,
    /// and for an absolute-form target with neither).
    pub path: Range<usize>,
}

/// Bytes allowed in an origin-form target or the path of an absolute-form
/// one beyond what httparse already refused (controls, spaces): ASCII only
/// (RFC 3986 has no raw non-ASCII; a client percent-encodes it) and no `#`
/// (a fragment is never sent).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii() && b != b'#'
}

/// A request target that is not in a form its method allows (see
/// [`classify`]). Its own type, not the parser's error, so this module
/// stands below the parser (which turns it into a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTarget;

/// Classifies the request target of a request with `method` and checks it
/// (RFC 9112 §3.2): origin-form for every method but `CONNECT`,
/// authority-form for `CONNECT` only, asterisk-form for `OPTIONS` only, and
/// absolute-form with the `http` scheme (this server speaks plain HTTP: an
/// `https` target was not meant for it), no user info and a valid authority.
///
/// # Errors
///
/// [`InvalidTarget`] for anything else (the parser answers it with 400).
///
/// # Examples
///
/// ```
/// use ringworker_io::http::target::{classify, TargetForm};
///
/// let t = classify(b"GET", b"http://example.com:8080/a?b").unwrap();
/// assert_eq!(t.form, TargetForm::Absolute);
/// assert_eq!(&"http://example.com:8080/a?b"[t.authority.unwrap()], "example.com:8080");
/// assert!(classify(b"GET", b"@other.example/p").is_err());
/// assert!(classify(b"GET", b"example.com:443").is_err());
/// assert!(classify(b"CONNECT", b"example.com:443").is_ok());
/// ```
pub fn classify(method: &[u8], target: &[u8]) -> Result<Target, InvalidTarget> {
    let connect = method == b"CONNECT";
    match target.first() {
        Some(b'/') if !connect => {
            if !target.iter().all(|&b| is_path_byte(b)) {
                return Err(InvalidTarget);
            }
            Ok(Target {
                form: TargetForm::Origin,
                authority: None,
                path: 0..target.len(),
            })
        }
        Some(b'*') if target.len() == 1 && method == b"OPTIONS" => Ok(Target {
            form: TargetForm::Asterisk,
            authority: None,
            path: 0..0,
        }),
        _ if connect => {
            // authority-form = uri-host ":" port, the port required.
            if !is_authority(target) || !has_port(target) {
                return Err(InvalidTarget);
            }
            Ok(Target {
                form: TargetForm::Authority,
                authority: Some(0..target.len()),
                path: 0..0,
            })
        }
        _ => absolute(target),
    }
}

/// An absolute-form target: `http://` (any case), an authority, then an
/// optional path and query.
fn absolute(target: &[u8]) -> Result<Target, InvalidTarget> {
    const SCHEME: &[u8] = b"http://";
    let scheme_ok =
        target.len() >= SCHEME.len() && target[..SCHEME.len()].eq_ignore_ascii_case(SCHEME);
    if !scheme_ok {
        return Err(InvalidTarget);
    }
    let start = SCHEME.len();
    let rest = &target[start..];
    let end = start
        + rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
    let authority = &target[start..end];
    // (User info is refused: RFC 9110 §4.2.4; it fails the authority syntax.)
    if authority.is_empty() || !is_authority(authority) {
        return Err(InvalidTarget);
    }
    if !target[end..].iter().all(|&b| is_path_byte(b)) {
        return Err(InvalidTarget);
    }
    Ok(Target {
        form: TargetForm::Absolute,
        authority: Some(start..end),
        path: end..target.len(),
    })
}

/// Whether `authority` is `uri-host [ ":" port ]` (RFC 3986 §3.2) with a
/// non-empty host and a port of at most 65535: what a `Host` header and the
/// authority of a target may hold. The host is an IP literal in brackets
/// (hex digits, `:` and `.` inside: the `url` crate checks the address
/// itself) or a reg-name (unreserved characters, sub-delims and
/// percent-encodings), so `/`, `?`, `#`, `@`, `\` and whitespace never pass.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::target::is_authority;
///
/// assert!(is_authority(b"example.com:8080"));
/// assert!(is_authority(b"[::1]:80"));
/// assert!(!is_authority(b"x/admin?"));
/// assert!(!is_authority(b"user@host"));
/// assert!(!is_authority(b"host:99999"));
/// ```
pub fn is_authority(authority: &[u8]) -> bool {
    let (host, port) = split_authority(authority);
    let Some(host) = host else { return false };
    if host.is_empty() {
        return false;
    }
    let host_ok = match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        _ => is_reg_name(host),
    };
    host_ok && port.is_none_or(is_port)
}

/// Whether the URL standard's host parser accepts the host of
/// `authority` (already checked with [`is_authority`]): a percent-encoding
/// may decode to a forbidden character, a name that looks like an IPv4
/// address must be one, an `xn--` label must decode. What it refuses gets
/// a 400 like any malformed `Host`, before a handler runs.
pub fn is_url_host(authority: &[u8]) -> bool {
    let (Some(host), _) = split_authority(authority) else {
        return false;
    };
    std::str::from_utf8(host).is_ok_and(|h| url::Host::parse(h).is_ok())
}

/// The last authority a connection found valid ([`is_authority`] and
/// [`is_url_host`]): a client names the same host in every request, so
/// the URL parser runs once per connection, not once per request.
#[derive(Debug, Default)]
pub struct AuthorityCheck {
    last: Vec<u8>,
}

impl AuthorityCheck {
    /// Whether the URL standard accepts `authority`'s host (see
    /// [`is_url_host`]), remembering the last one it accepted.
    pub fn accepts(&mut self, authority: &[u8]) -> bool {
        if !self.last.is_empty() && self.last == authority {
            return true;
        }
        if !is_url_host(authority) {
            return false;
        }
        self.last.clear();
        self.last.extend_from_slice(authority);
        true
    }
}

/// Splits an authority into its host and, after the last `:` outside
/// brackets, its port. `None` as the host for a malformed IP literal.
fn split_authority(authority: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    if authority.first() == Some(&b'[') {
        let Some(close) = authority.iter().position(|&b| b == b']') else {
            return (None, None);
        };
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            [] => (Some(host), None),
            [b':', port @ ..] => (Some(host), Some(port)),
            _ => (None, None),
        };
    }
    match authority.iter().position(|&b| b == b':') {
        Some(i) => (Some(&authority[..i]), Some(&authority[i + 1..])),
        None => (Some(authority), None),
    }
}

/// Whether an authority names a port (non-empty digits after the host).
fn has_port(authority: &[u8]) -> bool {
    matches!(split_authority(authority), (Some(_), Some(p)) if !p.is_empty())
}

/// `*DIGIT` of at most 65535 (an empty port means the default).
fn is_port(port: &[u8]) -> bool {
    port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`.
fn is_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        match host[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            b'%' => {
                let hex = host.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 2;
            }
            _ => return false,
        }
        i += 1;
    }
    true
}

/// Why a target URI could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetUriError {
    /// The authority is well formed but the URL standard's host parser
    /// refuses it (a percent-encoding that decodes to a forbidden
    /// character, a bad IP address, a name IDNA rejects). Answer 400.
    #[error("invalid host: {0}")]
    InvalidHost(String),
}

/// Builds the target URI of requests (`http://authority/path?query`, RFC
/// 9112 §3.3) with the `url` crate, from an authority and a path-and-query
/// that [`classify`] and [`is_authority`] checked.
///
/// It keeps the last URL it built and changes only what differs: requests
/// on a connection, and mostly on a shard, name the same host, so the host
/// is parsed once, and the path and query are set in place, in a buffer that
/// is reused (no allocation per request).
///
/// # Examples
///
/// ```
/// use ringworker_io::http::target::TargetUri;
///
/// let mut uris = TargetUri::new();
/// assert_eq!(uris.build(b"Example.COM:80", "/a/../b?q").unwrap().as_str(), "http://example.com/b?q");
/// // A path that starts like an authority stays a path.
/// assert_eq!(uris.build(b"x", "//evil.example/p").unwrap().as_str(), "http://x//evil.example/p");
/// ```
#[derive(Debug)]
pub struct TargetUri {
    /// The authority the URL's host and port came from, as sent.
    authority: Vec<u8>,
    url: Url,
}

impl Default for TargetUri {
    fn default() -> Self {
        Self::new()
    }
}

impl TargetUri {
    /// A builder (its first URL names `localhost`).
    pub fn new() -> Self {
        Self {
            authority: b"localhost".to_vec(),
            url: Url::parse("http://localhost/").expect("a valid URL"),
        }
    }

    /// The URL of a request to `authority` (checked with [`is_authority`])
    /// for `path_and_query` (checked by [`classify`]; empty means `/`).
    ///
    /// # Errors
    ///
    /// [`TargetUriError::InvalidHost`] when the URL standard refuses the host
    /// (the previous URL's host stays for the next call).
    pub fn build(
        &mut self,
        authority: &[u8],
        path_and_query: &str,
    ) -> Result<&Url, TargetUriError> {
        if authority != self.authority.as_slice() {
            self.set_authority(authority)?;
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        self.url.set_path(path);
        self.url.set_query(query);
        Ok(&self.url)
    }

    fn set_authority(&mut self, authority: &[u8]) -> Result<(), TargetUriError> {
        let invalid =
            || TargetUriError::InvalidHost(String::from_utf8_lossy(authority).into_owned());
        let (Some(host), port) = split_authority(authority) else {
            return Err(invalid());
        };
        let host = std::str::from_utf8(host).map_err(|_| invalid())?;
        let port = match port {
            None | Some(b"") => None,
            Some(p) => Some(
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(invalid)?,
            ),
        };
        let mut url = Url::parse("http://localhost/").expect("a valid URL");
        url.set_host(Some(host)).map_err(|_| invalid())?;
        url.set_port(port).map_err(|_| invalid())?;
        self.url = url;
        self.authority.clear();
        self.authority.extend_from_slice(authority);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(method: &str, target: &str) -> Result<TargetForm, InvalidTarget> {
        classify(method.as_bytes(), target.as_bytes()).map(|t| t.form)
    }

    #[test]
    fn forms_by_method() {
        assert_eq!(form("GET", "/"), Ok(TargetForm::Origin));
        assert_eq!(form("GET", "/a?b=c"), Ok(TargetForm::Origin));
        assert_eq!(form("GET", "//x/y"), Ok(TargetForm::Origin));
        assert_eq!(form("OPTIONS", "*"), Ok(TargetForm::Asterisk));
        assert_eq!(form("OPTIONS", "/"), Ok(TargetForm::Origin));
        assert_eq!(form("GET", "http://a.example/x"), Ok(TargetForm::Absolute));
        assert_eq!(form("GET", "HTTP://a.example"), Ok(TargetForm::Absolute));
        assert_eq!(form("CONNECT", "a.example:443"), Ok(TargetForm::Authority));
        assert_eq!(form("CONNECT", "[::1]:443"), Ok(TargetForm::Authority));
        for (method, target) in [
            ("GET", "*"),
            ("OPTIONS", "**"),
            ("GET", "a.example:443"),
            ("GET", ":8080/p"),
            ("GET", "@other.example/p"),
            ("GET", "x"),
            ("GET", "/a#frag"),
            ("GET", "/caf\u{e9}"),
            ("GET", "https://a.example/"),
            ("GET", "ftp://a.example/"),
            ("GET", "http://"),
            ("GET", "http:///p"),
            ("GET", "http://user@a.example/"),
            ("GET", "http://a.example:99999/"),
            ("GET", "http://a b/"),
            ("GET", "http://a.example/#f"),
            ("CONNECT", "/"),
            ("CONNECT", "a.example"),
            ("CONNECT", "a.example:"),
            ("CONNECT", "http://a.example:443"),
            ("CONNECT", "*"),
        ] {
            assert_eq!(
                form(method, target),
                Err(InvalidTarget),
                "{method} {target}"
            );
        }
    }

    #[test]
    fn absolute_form_parts() {
        let t = "http://a.example:81/p/q?x=1";
        let c = classify(b"GET", t.as_bytes()).unwrap();
        assert_eq!(&t[c.authority.clone().unwrap()], "a.example:81");
        assert_eq!(&t[c.path.clone()], "/p/q?x=1");
        let t = "http://a.example?x";
        let c = classify(b"GET", t.as_bytes()).unwrap();
        assert_eq!(&t[c.authority.clone().unwrap()], "a.example");
        assert_eq!(&t[c.path], "?x");
    }

    #[test]
    fn authorities() {
        for ok in [
            "a",
            "a.example",
            "A.EXAMPLE:8080",
            "a:",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:8080",
            "[::ffff:1.2.3.4]",
            "xn--bcher-kva.example",
            "a%41b",
            "a!$&'()*+,;=b",
            "a:65535",
        ] {
            assert!(is_authority(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "x/admin?",
            "x?a",
            "x#a",
            "u@x",
            "x\\y",
            "x y",
            "x:80:80",
            "x:8o",
            "x:65536",
            "x:000000",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:8o",
            "[g::1]",
            "a%4",
            "a%zz",
            "caf\u{e9}",
            "x\t",
            "x,y:1:2",
        ] {
            assert!(!is_authority(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn url_hosts() {
        for ok in [
            "x",
            "x:1",
            "[::1]:8080",
            "127.0.0.1",
            "a%41b",
            "xn--bcher-kva.example",
        ] {
            assert!(is_url_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "a%2fb",
            "a%00b",
            "1.2.3.999",
            "[1::2::3]",
            "xn--a.example:80",
        ] {
            assert!(is_authority(bad.as_bytes()), "{bad} is well formed");
            assert!(!is_url_host(bad.as_bytes()), "{bad}");
        }
        let mut check = AuthorityCheck::default();
        assert!(check.accepts(b"x:1") && check.accepts(b"x:1"));
        assert!(!check.accepts(b"a%2fb"));
        assert!(check.accepts(b"x:1"));
    }

    #[test]
    fn uris_are_built_from_parts() {
        let mut u = TargetUri::new();
        let mut b = |a: &str, p: &str| u.build(a.as_bytes(), p).map(|u| u.to_string());
        assert_eq!(b("x", "/public").unwrap(), "http://x/public");
        assert_eq!(b("x:8080", "/a?b=c").unwrap(), "http://x:8080/a?b=c");
        assert_eq!(b("x:80", "/").unwrap(), "http://x/");
        assert_eq!(b("x:", "/").unwrap(), "http://x/");
        assert_eq!(b("[::1]:81", "/p").unwrap(), "http://[::1]:81/p");
        assert_eq!(b("x", "").unwrap(), "http://x/");
        assert_eq!(b("x", "?q").unwrap(), "http://x/?q");
        assert_eq!(b("x", "/a?").unwrap(), "http://x/a?");
        assert_eq!(b("x", "/a/./b/../c").unwrap(), "http://x/a/c");
        assert_eq!(b("x", "/%2e%2e/c").unwrap(), "http://x/c");
        assert_eq!(
            b("x", "/a b\"<>`{}").unwrap(),
            "http://x/a%20b%22%3C%3E%60%7B%7D"
        );
        assert_eq!(b("x", "/p?a b").unwrap(), "http://x/p?a%20b");
        assert_eq!(
            b("x", "/\\evil.example/p").unwrap(),
            "http://x//evil.example/p"
        );
        assert_eq!(
            b("x", "//evil.example:1/p").unwrap(),
            "http://x//evil.example:1/p"
        );
        assert_eq!(
            b("x", "/@other.example/p").unwrap(),
            "http://x/@other.example/p"
        );
        assert_eq!(b("a%41b", "/").unwrap(), "http://aab/");
        assert!(b("a%2fb", "/").is_err());
        assert!(b("[1::2::3]", "/").is_err());
        // A refused host leaves the previous one in place.
        assert_eq!(b("x", "/again").unwrap(), "http://x/again");
    }
}
