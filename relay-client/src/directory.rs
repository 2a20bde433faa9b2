//! The blind-directory requests of the relay client (`spec/relay-protocol.md` §6.1): fetches
//! that carry a mailbox's fetch token, uploads that replace a mailbox's whole stock, and the
//! registration of the fetch verifier. The client never opens or seals entries: that is the
//! caller's business (the `hush-protocol` crate's `directory` module).

use crate::{
    Client, ClientError, KemPrekey, KeyPackage, OneTimePrekey, PrekeyBundle, PrekeyUpload,
    SignedPrekey, Stock,
};
use hush_wire::proto::{self, request, response};
use hush_wire::types::MailboxAddress;

impl Client {
    /// Uploads the signed prekey (if given) and one-time prekeys for an authenticated mailbox.
    pub async fn upload_prekeys(
        &self,
        mailbox: &MailboxAddress,
        signed_prekey: Option<SignedPrekey>,
        one_time_prekeys: Vec<OneTimePrekey>,
    ) -> Result<Stock, ClientError> {
        self.prekey_upload(mailbox, signed_prekey, one_time_prekeys, false)
            .await
    }

    /// Fetches a mailbox's prekey bundle without a fetch token (a legacy mailbox, §6.1),
    /// taking one one-time prekey if any is left.
    pub async fn fetch_prekey_bundle(
        &self,
        mailbox: &MailboxAddress,
    ) -> Result<PrekeyBundle, ClientError> {
        self.fetch_prekey_bundle_with_token(mailbox, None).await
    }

    /// Uploads KeyPackages (and optionally a new last-resort one) for an authenticated mailbox.
    pub async fn upload_key_packages(
        &self,
        mailbox: &MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<Stock, ClientError> {
        self.key_package_upload(mailbox, key_packages, last_resort, false)
            .await
    }

    /// Takes one KeyPackage of a mailbox without a fetch token (a legacy mailbox, §6.1); the
    /// last-resort one when none are left.
    pub async fn fetch_key_package(
        &self,
        mailbox: &MailboxAddress,
    ) -> Result<KeyPackage, ClientError> {
        self.fetch_key_package_with_token(mailbox, None).await
    }

    /// The directory stock of an authenticated mailbox.
    pub async fn directory_stock(&self, mailbox: &MailboxAddress) -> Result<Stock, ClientError> {
        self.stock_request(request::Body::DirectoryStock(
            proto::DirectoryStockRequest {
                mailbox_address: mailbox.0.to_vec(),
            },
        ))
        .await
    }

    pub(crate) async fn stock_request(&self, body: request::Body) -> Result<Stock, ClientError> {
        match self.request(body).await? {
            response::Body::DirectoryStock(s) => Ok(s.into()),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Fetches a mailbox's prekey bundle, presenting `fetch_token` (32 bytes from the owner's
    /// contact card) when given, and takes one one-time prekey if any is left. A mailbox with a
    /// registered verifier refuses a missing or wrong token with
    /// `ERROR_CODE_FETCH_TOKEN_INVALID` and takes nothing.
    pub async fn fetch_prekey_bundle_with_token(
        &self,
        mailbox: &MailboxAddress,
        fetch_token: Option<&[u8; 32]>,
    ) -> Result<PrekeyBundle, ClientError> {
        match self
            .request(request::Body::PrekeyFetch(proto::PrekeyFetchRequest {
                mailbox_address: mailbox.0.to_vec(),
                fetch_token: fetch_token.map(|t| t.to_vec()).unwrap_or_default(),
            }))
            .await?
        {
            response::Body::PrekeyBundle(b) => {
                let s = b.signed_prekey.ok_or(ClientError::UnexpectedResponse)?;
                Ok(PrekeyBundle {
                    signed_prekey: SignedPrekey {
                        id: s.id,
                        blob: s.blob,
                    },
                    one_time_prekey: b.one_time_prekey.map(|k| OneTimePrekey {
                        id: k.id,
                        blob: k.blob,
                    }),
                    kem_prekey_last_resort: b.kem_prekey.is_some() && b.kem_prekey_last_resort,
                    kem_prekey: b.kem_prekey.map(|k| KemPrekey {
                        id: k.id,
                        blob: k.blob,
                    }),
                })
            }
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Takes one KeyPackage of a mailbox (the last-resort one when none are left), presenting
    /// `fetch_token` when given; refused like [`Client::fetch_prekey_bundle_with_token`].
    pub async fn fetch_key_package_with_token(
        &self,
        mailbox: &MailboxAddress,
        fetch_token: Option<&[u8; 32]>,
    ) -> Result<KeyPackage, ClientError> {
        match self
            .request(request::Body::KeyPackageFetch(
                proto::KeyPackageFetchRequest {
                    mailbox_address: mailbox.0.to_vec(),
                    fetch_token: fetch_token.map(|t| t.to_vec()).unwrap_or_default(),
                },
            ))
            .await?
        {
            response::Body::KeyPackage(k) => Ok(KeyPackage {
                blob: k.key_package,
                last_resort: k.last_resort,
            }),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Replaces an authenticated mailbox's signed prekey (if given) and its whole one-time
    /// prekey stock with `one_time_prekeys` (its one-time KEM prekeys are removed too), in one
    /// transaction.
    pub async fn replace_prekeys(
        &self,
        mailbox: &MailboxAddress,
        signed_prekey: Option<SignedPrekey>,
        one_time_prekeys: Vec<OneTimePrekey>,
    ) -> Result<Stock, ClientError> {
        self.prekey_upload(mailbox, signed_prekey, one_time_prekeys, true)
            .await
    }

    /// Replaces an authenticated mailbox's whole KeyPackage stock with `key_packages` (and the
    /// last-resort KeyPackage, if given), in one transaction.
    pub async fn replace_key_packages(
        &self,
        mailbox: &MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<Stock, ClientError> {
        self.key_package_upload(mailbox, key_packages, last_resort, true)
            .await
    }

    /// PREKEY_UPLOAD: adds to the one-time prekey stock, or replaces it when `replace`.
    pub(crate) async fn prekey_upload(
        &self,
        mailbox: &MailboxAddress,
        signed_prekey: Option<SignedPrekey>,
        one_time_prekeys: Vec<OneTimePrekey>,
        replace: bool,
    ) -> Result<Stock, ClientError> {
        let upload = PrekeyUpload {
            signed_prekey,
            one_time_prekeys,
            replace_one_time: replace,
            ..PrekeyUpload::default()
        };
        self.upload_prekey_set(mailbox, upload).await
    }

    /// PREKEY_UPLOAD with everything it can carry, stored by the relay in one transaction:
    /// the signed prekey and the last-resort KEM prekey (each replaced if given), and the
    /// one-time prekeys and one-time KEM prekeys (added, or replacing the whole one-time
    /// stocks with `replace_one_time`).
    pub async fn upload_prekey_set(
        &self,
        mailbox: &MailboxAddress,
        upload: PrekeyUpload,
    ) -> Result<Stock, ClientError> {
        let kem = |k: KemPrekey| proto::KemPrekey {
            id: k.id,
            blob: k.blob,
        };
        self.stock_request(request::Body::PrekeyUpload(proto::PrekeyUploadRequest {
            mailbox_address: mailbox.0.to_vec(),
            signed_prekey: upload.signed_prekey.map(|s| proto::SignedPrekey {
                id: s.id,
                blob: s.blob,
            }),
            one_time_prekeys: upload
                .one_time_prekeys
                .into_iter()
                .map(|k| proto::OneTimePrekey {
                    id: k.id,
                    blob: k.blob,
                })
                .collect(),
            replace_one_time_prekeys: upload.replace_one_time,
            one_time_kem_prekeys: upload.one_time_kem_prekeys.into_iter().map(kem).collect(),
            last_resort_kem_prekey: upload.last_resort_kem_prekey.map(kem),
        }))
        .await
    }

    /// KEY_PACKAGE_UPLOAD: adds to the KeyPackage stock, or replaces it when `replace`.
    pub(crate) async fn key_package_upload(
        &self,
        mailbox: &MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        replace: bool,
    ) -> Result<Stock, ClientError> {
        self.stock_request(request::Body::KeyPackageUpload(
            proto::KeyPackageUploadRequest {
                mailbox_address: mailbox.0.to_vec(),
                key_packages,
                last_resort: last_resort.unwrap_or_default(),
                replace_key_packages: replace,
            },
        ))
        .await
    }

    /// Registers (or replaces) an authenticated mailbox's fetch verifier,
    /// `SHA-256("Hush-v1-Directory-Verifier" ‖ fetch_token)`. From then on its directory is
    /// handed out only to fetches with the token.
    pub async fn register_fetch_verifier(
        &self,
        mailbox: &MailboxAddress,
        verifier: [u8; 32],
    ) -> Result<Stock, ClientError> {
        self.stock_request(request::Body::DirectoryAccess(
            proto::DirectoryAccessRequest {
                mailbox_address: mailbox.0.to_vec(),
                fetch_verifier: verifier.to_vec(),
            },
        ))
        .await
    }
}
