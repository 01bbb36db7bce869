//! The back-office console: sessions and roles, every page, both languages, CSV, and the same
//! flows in headless Chromium.

mod browser;
mod fixture;
mod pages;
mod sessions;
