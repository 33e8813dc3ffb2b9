//! The access keys this node knows, followed from the config store like every definition, with
//! their secrets sealed by AES-256-GCM under a key that is never in the store. A secret is
//! unsealed only to check one signature, and never logged or answered back after creation.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use dashmap::DashMap;
use skiff_api::access_key::AccessKey;
use skiff_state::config::follow::Follower;
use skiff_state::config::Revision;
use std::collections::HashSet;
use std::sync::Arc;

const NONCE_BYTES: usize = 12;

/// Seals and unseals secrets.
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    pub(crate) fn seal(&self, secret: &str) -> String {
        let nonce: [u8; NONCE_BYTES] = random_bytes();
        let sealed = self.cipher.encrypt(Nonce::from_slice(&nonce), secret.as_bytes()).expect("AES-GCM seals any length we use");
        STANDARD.encode([nonce.as_slice(), &sealed].concat())
    }

    /// `None` if it was sealed under another key, or altered.
    pub(crate) fn unseal(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        let (nonce, ciphertext) = bytes.split_at_checked(NONCE_BYTES)?;
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// `N` bytes from the kernel's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out)).expect("/dev/urandom is readable");
    out
}

/// A new key id and secret, shaped like AWS's (`AKIA` + 16, and 40 characters).
pub(crate) fn new_credentials() -> (String, String) {
    const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id: String = random_bytes::<16>().iter().map(|b| ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()] as char).collect();
    let secret = base64::engine::general_purpose::STANDARD_NO_PAD.encode(random_bytes::<30>());
    (format!("AKIA{id}"), secret)
}

/// The keys by id, as the store's watch last reported them.
#[derive(Default)]
pub(crate) struct KeyRing {
    keys: DashMap<String, AccessKey>,
}

impl KeyRing {
    pub(crate) fn get(&self, id: &str) -> Option<AccessKey> {
        self.keys.get(id).map(|k| k.clone())
    }

    /// Known at once on the node that made the change (the watch brings it to the others).
    pub(crate) fn insert(&self, key: AccessKey) {
        self.keys.insert(key.id.clone(), key);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.keys.remove(id);
    }

    pub(crate) fn all(&self) -> Vec<AccessKey> {
        let mut keys: Vec<_> = self.keys.iter().map(|k| k.clone()).collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        keys
    }
}

/// Applies the access keys' watch to a [`KeyRing`].
pub(crate) struct KeysFollower(pub(crate) Arc<KeyRing>);

impl Follower for KeysFollower {
    type Record = AccessKey;

    fn put(&self, id: &str, key: AccessKey, _revision: Revision) {
        self.0.keys.insert(id.to_string(), key);
    }

    fn delete(&self, id: &str) {
        self.0.keys.remove(id);
    }

    fn retain(&self, ids: &HashSet<String>) {
        self.0.keys.retain(|id, _| ids.contains(id));
    }

    fn applied(&self, _revision: Revision) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_their_key_and_unaltered() {
        let sealer = Sealer::new(&[7; 32]);
        let sealed = sealer.seal("wJalrXUtnFEMI");
        assert!(!sealed.contains("wJalrXUtnFEMI"));
        assert_ne!(sealed, sealer.seal("wJalrXUtnFEMI"), "a fresh nonce each time");
        assert_eq!(sealer.unseal(&sealed).as_deref(), Some("wJalrXUtnFEMI"));
        assert_eq!(Sealer::new(&[8; 32]).unseal(&sealed), None);
        let mut altered = STANDARD.decode(&sealed).unwrap();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.unseal(&STANDARD.encode(altered)), None);
        let (id, secret) = new_credentials();
        assert!(id.starts_with("AKIA") && id.len() == 20 && secret.len() == 40, "{id} {secret}");
    }
}
