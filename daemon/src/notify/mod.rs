//! TODO: notify
