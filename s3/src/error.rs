//! What can go wrong talking to a bucket: the network, the service's refusal, or an
//! answer that is not what S3 sends. Each names the operation and the key, so one line
//! tells an operator what failed where.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer: nothing listens, the connection failed, or nothing came back in time.
    #[error("{op} {key}: no answer from {endpoint}")]
    Unreachable {
        op: &'static str,
        key: String,
        endpoint: String,
        #[source]
        source: Box<pyk_net::Failure>,
    },
    /// An answer's body (or an upload's) broke off or stalled.
    #[error("{op} {key}: the transfer stopped half-way")]
    Stalled {
        op: &'static str,
        key: String,
        #[source]
        source: io::Error,
    },
    /// The service said no: bad credentials (403), no such bucket, a server error…
    /// `code` and `message` are the service's own (S3's XML error body).
    #[error("{op} {key}: {status} {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Refused {
        op: &'static str,
        key: String,
        status: u16,
        code: String,
        message: String,
    },
    /// An answer S3 would not send (a LIST that is not XML, a missing ETag).
    #[error("{op} {key}: unexpected answer: {detail}")]
    Protocol {
        op: &'static str,
        key: String,
        detail: String,
    },
    /// An answer S3 would send, but one that does not parse (the XML of a LIST or
    /// of a multipart upload's start).
    #[error("{op} {key}: unexpected answer")]
    Unparsed {
        op: &'static str,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request the HTTP library cannot make from the settings and the key.
    #[error("{op} {key}: cannot make the request")]
    Request {
        op: &'static str,
        key: String,
        #[source]
        source: ureq::http::Error,
    },
    /// The settings name no usable endpoint or bucket.
    #[error("invalid S3 settings: {0}")]
    Settings(String),
    /// The settings name an endpoint or bucket the signing library refuses.
    #[error("invalid S3 settings: {what}")]
    Unusable {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Whether the network failed (the service down, silent or cut off), as opposed to
    /// an answer: a reader may then fall back to what it has.
    pub fn is_network(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Stalled { .. })
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The `<Code>` and `<Message>` of an S3 XML error body (either may be missing: a HEAD
/// answer has no body at all).
pub(crate) fn error_body(body: &str) -> (String, String) {
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        body.find(&open)
            .and_then(|start| {
                let rest = &body[start + open.len()..];
                rest.find(&close).map(|end| rest[..end].trim().to_owned())
            })
            .unwrap_or_default()
    };
    (field("Code"), field("Message"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_body_fields() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
        let (code, message) = super::error_body(xml);
        assert_eq!(code, "NoSuchKey");
        assert_eq!(message, "The specified key does not exist.");
        assert_eq!(super::error_body(""), (String::new(), String::new()));
    }
}
