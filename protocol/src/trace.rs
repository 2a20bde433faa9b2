//! Recording of intermediate values, used only to produce the published test vectors.
//!
//! Every public entry point runs with a disabled trace, whose `record` is a no-op; the
//! vector generator (feature `vectors`) runs the very same code with an enabled one, so
//! the vectors pin what the library really computes.

/// An ordered list of labelled byte strings.
#[derive(Default)]
pub(crate) struct Trace {
    on: bool,
    entries: Vec<(String, Vec<u8>)>,
}

impl Trace {
    /// A trace that records nothing.
    pub(crate) const fn off() -> Self {
        Self {
            on: false,
            entries: Vec::new(),
        }
    }

    /// A trace that records.
    #[cfg(feature = "vectors")]
    pub(crate) fn on() -> Self {
        Self {
            on: true,
            entries: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, label: &str, bytes: &[u8]) {
        if self.on {
            self.entries.push((label.to_owned(), bytes.to_vec()));
        }
    }

    /// Takes the recorded entries, leaving the trace empty.
    #[cfg(feature = "vectors")]
    pub(crate) fn take(&mut self) -> Vec<(String, Vec<u8>)> {
        core::mem::take(&mut self.entries)
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        for (_, v) in &mut self.entries {
            zeroize::Zeroize::zeroize(v);
        }
    }
}
