/*!
Signed evidence exports: what a security team hands to the police, in a form nobody can quietly
edit.

An export is a ZIP of an alert's files (clip, snapshot, timeline) and a `manifest.json` that
lists each file with its size and SHA-256, signed with the server's Ed25519 key
(`manifest.sig`, hex). [`verify`] checks the signature, then every file against the manifest,
and names what was altered, missing or added.

The signature proves the files are the ones the holder of the key exported. Which key that is
must be checked out of band: [`Verified::public_key`] is the signer's key; compare it with the
server's (`fightwatch verify --public-key`, or the fingerprint the server logs at start).

```
use fightwatch_evidence::{Export, SigningKey, verify};

let dir = tempfile::tempdir()?;
let key = SigningKey::load_or_create(&dir.path().join(SigningKey::FILE_NAME))?;
let mut export = Export::new("a7", "lead", 1_764_000_000_000, "node-1");
export.add("timeline.json", br#"{"id":"a7"}"#.to_vec())?;
let zip = export.finish(&key)?;
let verified = verify(&zip, Some(&key.public_key()))?;
assert_eq!(verified.manifest.alert_id, "a7");
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

mod error;
mod export;
mod key;
mod layout;
mod verify;

pub use error::{EvidenceError, VerifyError};
pub use export::{Export, FileEntry, MANIFEST, Manifest, SIGNATURE};
pub use key::{PublicKey, SigningKey};
pub use layout::printable;
pub use verify::{Verified, verify};
