//! TLS for the test server: certificates made at start-up (a test CA and
//! a leaf it signs, or a self-signed leaf) and the socket type that reads
//! and writes either plain TCP or TLS.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::options::TlsMode;

/// A ready TLS configuration and the PEM that clients should trust.
pub struct TlsSetup {
    /// The rustls configuration with the leaf and its key.
    pub config: Arc<ServerConfig>,
    /// The test CA, or the leaf itself when it is self-signed.
    pub ca_pem: String,
}

/// Makes the certificates for `mode` and the server configuration.
///
/// Panics when certificate generation fails, which only a broken crypto
/// backend can cause.
pub fn setup(mode: TlsMode) -> TlsSetup {
    let leaf_key = KeyPair::generate().expect("generating a leaf key");
    let (leaf_der, ca_pem) = match mode {
        TlsMode::SelfSigned => {
            let cert = leaf_params(&["127.0.0.1", "localhost"])
                .self_signed(&leaf_key)
                .expect("self-signing the leaf");
            (cert.der().clone(), cert.pem())
        }
        _ => signed_leaf(mode, &leaf_key),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf_der], key)
        .expect("the generated key matches its certificate");
    TlsSetup { config: Arc::new(config), ca_pem }
}

/// A leaf signed by a fresh test CA: the leaf's DER and the CA's PEM.
fn signed_leaf(mode: TlsMode, leaf_key: &KeyPair) -> (CertificateDer<'static>, String) {
    let ca = CertifiedIssuer::self_signed(ca_params(), KeyPair::generate().expect("CA key"))
        .expect("self-signing the test CA");
    let mut params = match mode {
        TlsMode::WrongHost => leaf_params(&["misp.invalid"]),
        _ => leaf_params(&["127.0.0.1", "localhost"]),
    };
    if mode == TlsMode::Expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let leaf = params.signed_by(leaf_key, &ca).expect("signing the leaf");
    (leaf.der().clone(), ca.pem())
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name = name("MISP test CA");
    params
}

fn leaf_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("valid subject names");
    params.distinguished_name = name("misp test server");
    params
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// A client connection, plain or wrapped in TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// Wraps `socket` in TLS when `config` is given.
    pub fn new(socket: TcpStream, config: Option<&Arc<ServerConfig>>) -> io::Result<Stream> {
        let Some(config) = config else {
            return Ok(Stream::Plain(socket));
        };
        let connection = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(StreamOwned::new(connection, socket))))
    }

    /// The TCP socket underneath.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}
