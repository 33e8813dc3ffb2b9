use crate::cluster::forward::Forwarder;
use crate::cluster::{ClusterGateway, Node};
use crate::auth::Auth;
use crate::connections::{Activity, ConnectionLimits};
use crate::http::Guarded;
use crate::proxy::h1;
use crate::router::{route, State};
use skiff_api::NodeInfo;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use skiff_invoker::Invoker;
use skiff_services::Services;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone)]
pub struct GatewayOptions {
    /// The token, the access keys and the secrets key: who may call what.
    pub auth: Arc<Auth>,
    /// How long in-flight requests may take to finish once shutdown begins.
    pub drain_timeout: Duration,
    /// This node: named in `X-Skiff-Node` on every invocation it executes.
    pub node: NodeInfo,
    /// The cluster this node belongs to; `None` for a single node.
    pub cluster: Option<ClusterGateway>,
    /// The region in the ARNs the Lambda API shows.
    pub region: String,
    /// What one client can hold: connections, header and idle time, body time.
    pub limits: ConnectionLimits,
}

/// Serves HTTP/1.1 and HTTP/2 on `listener` until `shutdown` resolves, then stops accepting and
/// waits up to `drain_timeout` for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    invoker: Invoker,
    services: Services,
    options: GatewayOptions,
    shutdown: impl Future<Output = ()>,
) {
    let node = Node { info: options.node, cluster: options.cluster, forwarder: Forwarder::new() };
    let state = Arc::new(State { invoker, services, auth: options.auth, proxy: crate::proxy::Proxy::new(), node, region: options.region, uploads: Arc::new(tokio::sync::Semaphore::new(crate::router::MAX_UPLOADS)) });
    let (drain, draining) = tokio::sync::watch::channel(());
    let limits = options.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The connection watchdog bounds header reads and idleness for both protocols alike (see
    // `connections`); hyper's own HTTP/1 header timer would also cut keep-alive waits short.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        // At the cap, the next client waits in the kernel's backlog rather than costing a task.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let watched = activity.clone();
        let connection = serve_connection(stream, peer, state.clone(), activity, builder.clone(), draining.clone());
        // The watchdog runs beside the connection, not in a `select!` with it: there its timer
        // would be polled again at every wake-up of the connection, once per request or more.
        let mut serving = tokio::spawn(connection);
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = &mut serving => {}
                () = watched.expired(&limits) => {
                    tracing::debug!(%peer, "closed a connection that sent no request in its allowance");
                    serving.abort();
                    let _ = serving.await;
                }
            }
        });
    }
    drop(listener);
    drop(draining);
    tracing::info!("shutting down: draining in-flight requests");
    // Every connection holds a receiver until it ends: once none is left, all are drained.
    let _ = drain.send(());
    tokio::select! {
        () = drain.closed() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(options.drain_timeout) => {
            tracing::warn!("drain timeout reached; closing remaining connections");
        }
    }
}

/// One client connection: plain service requests on the proxy's own HTTP/1.1 path, then (from
/// the first request it does not take) the general server to the connection's end. When
/// `draining` changes, it finishes the request in flight and closes.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<State>,
    activity: Arc<Activity>,
    builder: auto::Builder<TokioExecutor>,
    mut draining: watch::Receiver<()>,
) {
    let conn = h1::Conn { routes: &state.services, token: state.auth.token.as_deref(), peer, activity: &activity, pool: &state.proxy.idle };
    let io = match h1::serve(stream, conn, &mut draining).await {
        h1::Ending::Closed => return,
        h1::Ending::Handoff(io) => io,
    };
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
