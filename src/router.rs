//! The one handler the transport calls: a plain function from a
//! [`Request`] to a [`Reply`] (testable without a socket) that sends each
//! request to the surface its path names:
//!
//! - `/play/…`: the play path ([`crate::play`]);
//! - `/rest/…`: the Subsonic API ([`crate::subsonic`]);
//! - `/admin/…`: the admin API and its event streams ([`crate::admin`]);
//! - `/api/…` and the page's files: the phone player ([`crate::player`]).
//!
//! Errors become replies in [`crate::surface::error`], nowhere else.

use std::sync::Arc;

use crate::admin::Admin;
use crate::app::App;
use crate::http::request::log_path;
use crate::http::{self, Reply, Request};
use crate::subsonic::Subsonic;
use crate::surface::HttpError;
use crate::{play, player};

/// The services and each surface's own state.
pub struct Router {
    app: Arc<App>,
    subsonic: Subsonic,
    admin: Admin,
}

impl Router {
    /// The handler for `app`.
    pub fn new(app: App) -> Router {
        let app = Arc::new(app);
        Router {
            subsonic: Subsonic::new(Arc::clone(&app)),
            admin: Admin::new(Arc::clone(&app)),
            app,
        }
    }

    /// The services behind the surfaces.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// What the transport needs from the config's `[server]` section.
    pub fn settings(&self) -> http::Settings {
        let s = &self.app.config.server;
        http::Settings {
            listen: s.listen,
            max_connections: s.max_connections,
            max_sockets: s.max_sockets,
            read_timeout: s.read_timeout,
            write_timeout: s.write_timeout,
            buffer_budget_bytes: http::DEFAULT_BUFFER_BUDGET_BYTES,
        }
    }

    /// Answers one request. Never panics on client input; a bug that does
    /// panic is turned into a 500 by the transport.
    pub fn handle(&self, req: &Request) -> Reply {
        let what = || format!("{} {}", req.method, log_path(&req.path));
        self.route(req).unwrap_or_else(|e| e.into_reply(&what()))
    }

    fn route(&self, req: &Request) -> Result<Reply, HttpError> {
        let path = req.path.as_str();
        if let Some(rest) = path.strip_prefix("/play/") {
            return play::play(&self.app, req, rest);
        }
        if let Some(method) = path.strip_prefix("/rest/") {
            return self.subsonic.handle(req, method);
        }
        if path.starts_with("/admin/") {
            return self.admin.handle(req);
        }
        player::route(&self.app, req).unwrap_or_else(|| Err(HttpError::not_found()))
    }
}

/// Binds `app.config.server.listen` and serves `app` on it.
///
/// Errors: as [`http::Server::start`].
pub fn serve(app: App) -> std::io::Result<http::Server> {
    let router = Router::new(app);
    let settings = router.settings();
    http::Server::start(settings, move |req| router.handle(req))
}
