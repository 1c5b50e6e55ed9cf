//! TLS settings of `amqps://` connections: an extra CA trusted next to the webpki roots, and
//! an optional client certificate (mutual TLS), read and checked once at start-up.
//!
//! lapin's TLS layer (rustls with ring) takes the PEM text as it is and skips what it cannot
//! parse, so a wrong file would only show up as an untrusted broker or a refused handshake;
//! [`AmqpTls::from_files`] parses everything with rustls first and names the file at fault.

use std::fmt;
use std::path::{Path, PathBuf};

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{QueueError, UnavailableCause};

/// Which of the TLS files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// The extra CA certificate(s) the broker's certificate may chain to.
    Ca,
    /// The client certificate chain presented to the broker.
    ClientCert,
    /// The client certificate's private key.
    ClientKey,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ca => "CA file",
            Self::ClientCert => "client certificate file",
            Self::ClientKey => "client key file",
        })
    }
}

/// A TLS file for RabbitMQ that cannot be used; the message names the file and the fault.
#[derive(Debug, thiserror::Error)]
pub enum AmqpTlsError {
    /// The file could not be read.
    #[error("cannot read the AMQP TLS {file} {}", path.display())]
    Read {
        file: TlsFile,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM block of the file is malformed.
    #[error("the AMQP TLS {file} {} is not valid PEM", path.display())]
    Pem {
        file: TlsFile,
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    /// The file holds no `CERTIFICATE` block.
    #[error("the AMQP TLS {file} {} holds no PEM certificate", path.display())]
    NoCertificate { file: TlsFile, path: PathBuf },
    /// A certificate of the CA file is not one rustls can trust as a root.
    #[error("the AMQP TLS CA file {} holds a certificate that cannot be a trust root", path.display())]
    BadCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// The key file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM).
    #[error("the AMQP TLS client key file {} holds no PEM private key", path.display())]
    NoKey {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    /// The key is of an unsupported kind, or is not the certificate's.
    #[error(
        "the AMQP TLS client key {} does not fit the client certificate {}",
        key.display(),
        cert.display()
    )]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// Only one of the client certificate and its key was given.
    #[error("an AMQP TLS client certificate needs both a certificate file and a key file")]
    HalfIdentity,
}

/// TLS settings for `amqps://` URLs, checked. The default trusts the webpki roots only
/// and presents no client certificate.
#[derive(Clone, Default, PartialEq)]
pub struct AmqpTls {
    config: OwnedTLSConfig,
}

impl fmt::Debug for AmqpTls {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpTls")
            .field("extra_ca", &self.config.cert_chain.is_some())
            .field("client_certificate", &self.config.identity.is_some())
            .finish()
    }
}

impl AmqpTls {
    /// Reads the extra CA (PEM, one or more certificates) and the client certificate chain
    /// and key (PEM), and checks that rustls accepts them and that the key is the
    /// certificate's.
    pub fn from_files(
        ca: Option<&Path>,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
    ) -> Result<Self, AmqpTlsError> {
        let cert_chain = ca.map(read_ca).transpose()?;
        let identity = match (client_cert, client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(read_identity(cert, key)?),
            _ => return Err(AmqpTlsError::HalfIdentity),
        };
        Ok(Self {
            config: OwnedTLSConfig {
                identity,
                cert_chain,
            },
        })
    }

    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        self.config.identity.is_some()
    }

    pub(super) fn lapin_config(&self) -> OwnedTLSConfig {
        self.config.clone()
    }
}

/// Whether a failed connect is the TLS handshake refusing (an untrusted broker certificate,
/// a broker refusing the client's, no common protocol): a settings problem that retrying
/// does not cure, unlike a broker that is down or still starting.
pub fn is_tls_failure(error: &QueueError) -> bool {
    let QueueError::Unavailable(UnavailableCause::Broker(broker)) = error else {
        return false;
    };
    let lapin::ErrorKind::IOError(io) = broker.kind() else {
        return false;
    };
    io.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, AmqpTlsError> {
    std::fs::read(path).map_err(|source| AmqpTlsError::Read {
        file,
        path: path.to_owned(),
        source,
    })
}

fn certificates(
    file: TlsFile,
    path: &Path,
    pem_text: &[u8],
) -> Result<Vec<CertificateDer<'static>>, AmqpTlsError> {
    let certs = CertificateDer::pem_slice_iter(pem_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| AmqpTlsError::Pem {
            file,
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(AmqpTlsError::NoCertificate {
            file,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The CA file as the PEM text lapin takes, once every certificate in it is a usable root.
fn read_ca(path: &Path) -> Result<String, AmqpTlsError> {
    let text = read(TlsFile::Ca, path)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(TlsFile::Ca, path, &text)? {
        roots.add(cert).map_err(|source| AmqpTlsError::BadCa {
            path: path.to_owned(),
            source,
        })?;
    }
    // Valid PEM is ASCII; anything else in the file lies outside the blocks and is ignored.
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn read_identity(cert_path: &Path, key_path: &Path) -> Result<OwnedIdentity, AmqpTlsError> {
    let pem_text = read(TlsFile::ClientCert, cert_path)?;
    let chain = certificates(TlsFile::ClientCert, cert_path, &pem_text)?;
    let key_text = read(TlsFile::ClientKey, key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|source| AmqpTlsError::NoKey {
        path: key_path.to_owned(),
        source,
    })?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|source| {
        AmqpTlsError::Identity {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
            source,
        }
    })?;
    Ok(OwnedIdentity::PKCS8 {
        pem: pem_text,
        key: key_text,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("inlet-tls-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A CA and a client certificate with its key, as PEM.
    fn material() -> (String, String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let client_key = rcgen::KeyPair::generate().unwrap();
        let client = rcgen::CertificateParams::new(vec!["inlet".to_owned()])
            .unwrap()
            .signed_by(&client_key, &ca)
            .unwrap();
        (ca.pem(), client.pem(), client_key.serialize_pem())
    }

    #[test]
    fn good_files_give_an_extra_ca_and_a_client_certificate() {
        let dir = Dir::new();
        let (ca, cert, key) = material();
        let tls = AmqpTls::from_files(
            Some(&dir.file("ca.pem", &ca)),
            Some(&dir.file("client.pem", &cert)),
            Some(&dir.file("client.key", &key)),
        )
        .unwrap();
        assert!(tls.has_client_certificate());
        let config = tls.lapin_config();
        assert_eq!(config.cert_chain.as_deref(), Some(ca.as_str()));
        assert!(!format!("{tls:?}").contains("PRIVATE KEY"));
        assert_eq!(
            AmqpTls::from_files(None, None, None).unwrap(),
            AmqpTls::default()
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = Dir::new();
        let missing = dir.0.join("absent.pem");
        let err = AmqpTls::from_files(Some(&missing), None, None).unwrap_err();
        assert!(
            matches!(&err, AmqpTlsError::Read { file: TlsFile::Ca, path, .. } if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("CA file"), "{err}");
        assert!(err.to_string().contains("absent.pem"), "{err}");

        let (_, _, key) = material();
        let err = AmqpTls::from_files(Some(&dir.file("key.pem", &key)), None, None).unwrap_err();
        assert!(
            matches!(
                err,
                AmqpTlsError::NoCertificate {
                    file: TlsFile::Ca,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_ca_block_that_is_no_certificate_is_refused() {
        let dir = Dir::new();
        let junk = "-----BEGIN CERTIFICATE-----\naW5sZXQgaW5sZXQ=\n-----END CERTIFICATE-----\n";
        let err = AmqpTls::from_files(Some(&dir.file("ca.pem", junk)), None, None).unwrap_err();
        assert!(matches!(err, AmqpTlsError::BadCa { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot be a trust root"), "{err}");
        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        let err = AmqpTls::from_files(Some(&dir.file("b.pem", broken)), None, None).unwrap_err();
        assert!(
            matches!(
                err,
                AmqpTlsError::Pem {
                    file: TlsFile::Ca,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_client_certificate_needs_its_own_key() {
        let dir = Dir::new();
        let (_, cert, key) = material();
        let (_, _, other_key) = material();
        let cert_path = dir.file("client.pem", &cert);
        let err = AmqpTls::from_files(None, Some(&cert_path), None).unwrap_err();
        assert!(matches!(err, AmqpTlsError::HalfIdentity), "{err:?}");
        let err = AmqpTls::from_files(None, None, Some(&dir.file("client.key", &key))).unwrap_err();
        assert!(matches!(err, AmqpTlsError::HalfIdentity), "{err:?}");

        let other = dir.file("other.key", &other_key);
        let err = AmqpTls::from_files(None, Some(&cert_path), Some(&other)).unwrap_err();
        assert!(matches!(err, AmqpTlsError::Identity { .. }), "{err:?}");
        assert!(err.to_string().contains("does not fit"), "{err}");

        // The certificate given as the key: no private key in it.
        let err = AmqpTls::from_files(None, Some(&cert_path), Some(&cert_path)).unwrap_err();
        assert!(matches!(err, AmqpTlsError::NoKey { .. }), "{err:?}");
    }
}
