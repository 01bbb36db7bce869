//! TLS for `amqps://` URLs: rustls with the system's CA roots, plus RabbitMQ's URI query
//! parameters (<https://www.rabbitmq.com/docs/uri-query-parameters>) `cacertfile` (a PEM bundle
//! trusted besides the system's roots, for a private CA) and `certfile` + `keyfile` (a client
//! certificate and its key, PEM, for brokers that authenticate clients by certificate).

use std::io;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::{Connection, ConnectionProperties};

/// Opens a connection to `url`, with TLS as the URL asks.
pub async fn open(url: &str) -> lapin::Result<Connection> {
    let tls = tls_config(url).map_err(io::Error::other)?;
    Connection::connect_with_config(
        url,
        ConnectionProperties::default(),
        tls,
        lapin::runtime::default_runtime()?,
    )
    .await
}

/// The TLS settings `url`'s query names, with the files read. Errors name the parameter and
/// the file, never the URL (it may hold a password).
pub fn tls_config(url: &str) -> Result<OwnedTLSConfig, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("AMQP_URL is not a URL: {e}"))?;
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let tls_params = ["cacertfile", "certfile", "keyfile"];
    if parsed.scheme() != "amqps" {
        if let Some(name) = tls_params.iter().find(|name| param(name).is_some()) {
            return Err(format!(
                "AMQP_URL names `{name}` but is not an amqps:// URL: TLS would not be used"
            ));
        }
        return Ok(OwnedTLSConfig::default());
    }
    let read = |name: &str| -> Result<Option<Vec<u8>>, String> {
        param(name)
            .map(|path| {
                std::fs::read(&path)
                    .map_err(|e| format!("AMQP_URL `{name}`: cannot read {path}: {e}"))
            })
            .transpose()
    };
    let cert_chain = read("cacertfile")?
        .map(|pem| {
            String::from_utf8(pem).map_err(|_| "AMQP_URL `cacertfile` is not PEM text".to_owned())
        })
        .transpose()?;
    let identity = match (read("certfile")?, read("keyfile")?) {
        (Some(pem), Some(key)) => Some(OwnedIdentity::PKCS8 { pem, key }),
        (None, None) => None,
        _ => return Err("AMQP_URL: `certfile` and `keyfile` go together".to_owned()),
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_needs_no_tls_settings() {
        let tls = tls_config("amqp://guest:guest@127.0.0.1:5672/%2f").expect("plain URL");
        assert!(tls.cert_chain.is_none() && tls.identity.is_none());
    }

    #[test]
    fn tls_parameters_on_a_plain_url_are_refused() {
        let error = tls_config("amqp://u:secret@host/%2f?cacertfile=/etc/ca.pem")
            .expect_err("cacertfile without amqps");
        assert!(error.contains("not an amqps:// URL"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn an_unreadable_ca_file_is_named() {
        let error = tls_config("amqps://u:secret@host/%2f?cacertfile=%2Fnonexistent%2Fca.pem")
            .expect_err("missing CA file");
        assert!(
            error.contains("`cacertfile`: cannot read /nonexistent/ca.pem"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let error = tls_config("amqps://host/%2f?certfile=%2Fdev%2Fnull")
            .expect_err("certfile without keyfile");
        assert!(error.contains("go together"), "{error}");
    }

    #[test]
    fn a_ca_file_is_read_into_the_trusted_chain() {
        let dir = std::env::temp_dir().join(format!("accredito-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("ca.pem");
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\n").expect("write");
        let url = format!("amqps://host/%2f?cacertfile={}", path.display());
        let tls = tls_config(&url).expect("readable CA file");
        assert_eq!(
            tls.cert_chain.as_deref(),
            Some("-----BEGIN CERTIFICATE-----\n")
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
