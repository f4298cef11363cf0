//! Files the process makes are its own.

/// Sets the process's file-mode creation mask to 077: every file and folder fightwatch (or a
/// library in it: FFmpeg writing a clip, SQLite its journal) creates is readable by its user
/// only (0600 files, 0700 folders), as the database and keys already are. Evidence may sit on
/// shared storage (NFS, docs/deploy.md); other users of the host must not read it. Call first
/// thing in `main`, before any thread starts.
pub fn private_files() {
    #[cfg(unix)]
    {
        // SAFETY: umask only sets the process's creation mask; it cannot fail.
        #[allow(unsafe_code)]
        unsafe {
            libc::umask(0o077);
        }
    }
}
