//! TLS: a rustls client trusting `ca_pem()` gets through to a valid
//! certificate and is stopped by a wrong name or an expired one.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::*;
use crate::{ServerOptions, TlsMode};

fn tls_server(mode: TlsMode) -> MispServer {
    MispServer::start(ServerOptions { tls: Some(mode), ..ServerOptions::default() })
}

/// A version check over TLS trusting only `ca_pem`; the error is the
/// client's complaint.
fn version_over_tls(server: &MispServer, ca_pem: &str) -> Result<Reply, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let connection = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(address(server)).map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(connection, socket);
    stream.write_all(&request("GET", "/servers/getVersion", None)).map_err(|e| e.to_string())?;
    read_reply(&mut BufReader::new(stream)).ok_or_else(|| "no reply".to_owned())
}

#[test]
fn a_client_trusting_the_test_ca_reaches_a_valid_server() {
    let server = tls_server(TlsMode::Valid);
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let reply = version_over_tls(&server, &server.ca_pem().unwrap()).unwrap();
    assert_eq!(reply.json()["version"], json!("2.5.1"));
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let server = tls_server(TlsMode::WrongHost);
    let error = version_over_tls(&server, &server.ca_pem().unwrap()).unwrap_err();
    assert!(error.contains("not valid for name"), "{error}");
}

#[test]
fn an_expired_certificate_is_refused() {
    let server = tls_server(TlsMode::Expired);
    let error = version_over_tls(&server, &server.ca_pem().unwrap()).unwrap_err();
    assert!(error.contains("certificate expired"), "{error}");
}

#[test]
fn a_self_signed_server_is_trusted_through_its_own_certificate() {
    let server = tls_server(TlsMode::SelfSigned);
    let reply = version_over_tls(&server, &server.ca_pem().unwrap()).unwrap();
    assert_eq!(reply.status, 200);
    let stranger = tls_server(TlsMode::Valid);
    let error = version_over_tls(&server, &stranger.ca_pem().unwrap()).unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
}

#[test]
fn a_plain_server_has_no_certificate() {
    let server = MispServer::start(ServerOptions::default());
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.ca_pem(), None);
}
