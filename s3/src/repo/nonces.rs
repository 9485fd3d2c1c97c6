//! Single-use request tokens across servers: a token's nonce is recorded as
//! `nonces/<hex>`, created only if absent, so the second server to see a token finds it
//! recorded and refuses it. In lease mode the create is a HEAD then a PUT: two servers
//! given the same token within the same few milliseconds could both accept it.
//! Old nonce objects go with garbage collection and each server's hourly expiry (or a
//! bucket lifecycle rule).

use super::{Repo, Result};

impl Repo {
    /// Records `nonce` (valid until `expires`, Unix seconds) as used; false if it was
    /// used already, through this server or another.
    pub fn first_use(&self, nonce: &[u8], expires: u64) -> Result<bool> {
        let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        self.create(
            &self.key(&format!("nonces/{hex}")),
            expires.to_string().as_bytes(),
        )
    }
}
