//! Fault injection: what Graph does to a client that calls too often or at a bad time. A test queues
//! faults; each one is applied to the next Graph (`/v1.0`) calls, in order, `times` calls each.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::reply::graph_error;
use super::state::State;

/// A fault applied to the next Graph calls (after authentication, before the call is served).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After: retry_after_secs`, `times` calls in a row.
    Throttle { times: usize, retry_after_secs: u64 },
    /// `503 Service Unavailable` (with `Retry-After` when given), `times` calls in a row.
    Unavailable {
        times: usize,
        retry_after_secs: Option<u64>,
    },
    /// The call is served normally but only after `delay`, `times` calls in a row.
    Slow { times: usize, delay: Duration },
}

impl Fault {
    fn times_mut(&mut self) -> &mut usize {
        match self {
            Fault::Throttle { times, .. }
            | Fault::Unavailable { times, .. }
            | Fault::Slow { times, .. } => times,
        }
    }
}

/// What the current call must suffer.
pub enum FaultAction {
    Reply(Response),
    Delay(Duration),
}

impl FaultAction {
    /// A short name for the request record.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Reply(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => "throttle",
            FaultAction::Reply(_) => "unavailable",
            FaultAction::Delay(_) => "slow",
        }
    }
}

/// Takes one application of the first queued fault, if any.
pub fn take(state: &mut State) -> Option<FaultAction> {
    let fault = loop {
        let front = state.faults.front_mut()?;
        let times = front.times_mut();
        if *times == 0 {
            state.faults.pop_front();
            continue;
        }
        *times -= 1;
        break front.clone();
    };
    if state
        .faults
        .front_mut()
        .is_some_and(|f| *f.times_mut() == 0)
    {
        state.faults.pop_front();
    }
    Some(match fault {
        Fault::Throttle {
            retry_after_secs, ..
        } => {
            let mut r = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            set_retry_after(&mut r, retry_after_secs);
            FaultAction::Reply(r)
        }
        Fault::Unavailable {
            retry_after_secs, ..
        } => {
            let mut r = graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry later.",
            );
            if let Some(secs) = retry_after_secs {
                set_retry_after(&mut r, secs);
            }
            FaultAction::Reply(r)
        }
        Fault::Slow { delay, .. } => FaultAction::Delay(delay),
    })
}

/// The 429 Graph answers when more than the allowed number of calls run at once on one mailbox.
pub fn concurrency_exceeded() -> Response {
    let mut r = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
    );
    set_retry_after(&mut r, 1);
    r.into_response()
}

fn set_retry_after(r: &mut Response, secs: u64) {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
}
