//! The end-to-end suite: one test binary, one module per area.
//!
//! One binary links once instead of once per area, and the support modules are shared instead
//! of compiled into every file that needs part of them. nextest still runs each test in its own
//! process, so process-wide state (metrics, the hashing pool, environment) stays per test.
//! Run one area with `scripts/test.sh -p mailsig-tests --test suite <area>::`.

// Shared set-ups, used by several areas.
mod api_support;
mod ops_support;
mod pipeline_support;
mod web_support;

mod a11y;
mod abuse;
mod address_books;
mod admin;
mod admin_e2e;
mod admin_org;
mod api;
mod api_contract;
mod api_daemon;
mod api_logs;
mod api_matrix;
mod carddav;
mod erasure;
mod first_hour;
mod graph;
mod graph_contacts;
mod graph_emulator;
mod graph_tenant;
mod hostile_servers;
mod http;
mod https;
mod imap;
mod imap_oauth;
mod logs;
mod metrics;
mod notify;
mod offboard;
mod oidc;
mod outlook_book;
mod panics;
mod pipeline;
mod privacy;
mod privacy_logs;
mod privacy_matrix;
mod reconnecting;
mod reload;
mod replicas;
mod resilience;
mod second_factor;
mod self_service;
mod sender_auth;
mod servers;
mod vault_binding;
mod web_e2e;
mod web_pages;
mod web_review;
mod webhooks;
