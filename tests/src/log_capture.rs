//! An in-memory log sink for tests that read back every log line (the privacy canary, the
//! correlation-id check): a cloneable `Write` over one shared buffer, handed to
//! `tracing_subscriber::fmt().with_writer(move || buffer.clone())`.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Every byte written through any clone lands in the same buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// What was written so far, as text (lossy for invalid UTF-8).
    pub fn contents(&self) -> String {
        match self.0.lock() {
            Ok(buffer) => String::from_utf8_lossy(&buffer).into_owned(),
            Err(poisoned) => String::from_utf8_lossy(&poisoned.into_inner()).into_owned(),
        }
    }
}

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
