//! Sending and saving attachments (`spec/attachments.md` section 10): a file is encrypted
//! into a temporary file (one chunk in memory at a time), uploaded to our home relay's blob
//! store, and referred to from an ordinary 1:1 or group message; a received attachment is
//! downloaded, checked and decrypted into a directory.

mod files;
mod progress;
mod save;
mod send;

pub use files::safe_file_name;
pub use progress::Progress;
pub use send::PendingUpload;

/// The progress callback the attachment calls take: called with the blob bytes done so far
/// and the blob's length, from the engine's task (keep it quick).
pub type ProgressFn<'a> = &'a mut (dyn FnMut(Progress) + Send);
