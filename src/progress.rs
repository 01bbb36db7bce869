//! How a long operation says how far it got: `(done, total)` after each step. The CLI shows it
//! on a terminal; the service, which has its logs and metrics, passes [`SILENT`].

/// Called with how many of how many steps are done.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Reports nothing.
pub const SILENT: Progress<'static> = &|_, _| {};
