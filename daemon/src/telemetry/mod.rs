//! TODO: telemetry
