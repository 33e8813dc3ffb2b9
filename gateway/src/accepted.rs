//! Serving one accepted connection: its plain service requests on the proxy's own HTTP/1.1
//! path, then — from the first request that path does not take — the general server (hyper) to
//! the connection's end. With lanes, the first part runs on the connection's lane and the
//! general server's part on the main runtime (see `lanes`).

use crate::connections::Activity;
use crate::http::Guarded;
use crate::lanes::{AbortOnDrop, Lanes};
use crate::proxy::h1::{self, IdlePool, Prefixed};
use crate::router::{route, State};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What serving one accepted connection needs.
pub(crate) struct Accepted {
    pub(crate) peer: SocketAddr,
    pub(crate) state: Arc<State>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) builder: auto::Builder<TokioExecutor>,
    /// Changes when the server starts draining: the connection finishes the request in flight
    /// and closes.
    pub(crate) draining: watch::Receiver<()>,
}

impl Accepted {
    /// Serves `stream` in a task of its own: on the next lane if there are lanes, else here.
    pub(crate) fn spawn(self, stream: TcpStream, lanes: Option<&Lanes>) -> std::io::Result<JoinHandle<()>> {
        let Some(lanes) = lanes else {
            let pool = self.state.proxy.idle.clone();
            return Ok(tokio::spawn(self.serve(stream, pool, None)));
        };
        let lane = lanes.next();
        // A socket belongs to the runtime whose driver registered it: moved as a std socket, it
        // is registered again on the lane.
        let stream = stream.into_std()?;
        let (pool, main) = (lane.pool.clone(), Handle::current());
        Ok(lane.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => self.serve(stream, pool, Some(main)).await,
                Err(e) => tracing::warn!(error = %e, "could not register a connection on its lane"),
            }
        }))
    }

    /// `main`: set on a lane, where the general server's part goes.
    async fn serve(mut self, stream: TcpStream, pool: Arc<IdlePool>, main: Option<Handle>) {
        let state = self.state.clone();
        let conn = h1::Conn { routes: &state.services, token: state.auth.token.as_deref(), peer: self.peer, activity: &self.activity, pool: &pool };
        let io = match h1::serve(stream, conn, &mut self.draining).await {
            h1::Ending::Closed => return,
            h1::Ending::Handoff(io) => io,
        };
        let Some(main) = main else { return self.general(io).await };
        let (read, stream) = io.into_parts();
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => return tracing::warn!(error = %e, "could not move a connection off its lane"),
        };
        let moved = main.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => self.general(Prefixed::new(read, stream)).await,
                Err(e) => tracing::warn!(error = %e, "could not register a connection on the main runtime"),
            }
        });
        let mut moved = AbortOnDrop(moved);
        let _ = (&mut moved.0).await;
    }

    /// The general server, to the connection's end.
    async fn general(self, io: Prefixed<TcpStream>) {
        let Accepted { peer, state, activity, builder, mut draining } = self;
        let service = service_fn(move |req| {
            let (state, in_flight) = (state.clone(), activity.begin());
            let req = req.map(crate::http::request_body);
            async move {
                let resp = route(&state, peer, req).await;
                Ok::<_, Infallible>(resp.map(|body| Guarded::new(body, in_flight)))
            }
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            _ = draining.changed() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
