use crate::accepted::Accepted;
use crate::auth::Auth;
use crate::cluster::forward::Forwarder;
use crate::cluster::{ClusterGateway, Node};
use crate::connections::{Activity, ConnectionLimits};
use crate::lanes::{LaneError, Lanes};
use crate::router::State;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use skiff_api::NodeInfo;
use skiff_invoker::Invoker;
use skiff_services::Services;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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
    /// Threads serving connections while their requests stay on the service proxy's own
    /// path (see `lanes`); 0 serves them on the main runtime.
    pub connection_threads: usize,
}

/// Serves HTTP/1.1 and HTTP/2 on `listener` until `shutdown` resolves, then stops accepting and
/// waits up to `drain_timeout` for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    invoker: Invoker,
    services: Services,
    options: GatewayOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LaneError> {
    let lanes = match options.connection_threads {
        0 => None,
        n => Some(Lanes::start(n)?),
    };
    let node = Node { info: options.node, cluster: options.cluster, forwarder: Forwarder::new() };
    let state = Arc::new(State {
        invoker,
        services,
        auth: options.auth,
        proxy: crate::proxy::Proxy::new(),
        node,
        region: options.region,
        uploads: Arc::new(tokio::sync::Semaphore::new(crate::router::MAX_UPLOADS)),
    });
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
        let accepted = Accepted { peer, state: state.clone(), activity, builder: builder.clone(), draining: draining.clone() };
        // The watchdog runs beside the connection, not in a `select!` with it: there its timer
        // would be polled again at every wake-up of the connection, once per request or more.
        let mut serving = match accepted.spawn(stream, lanes.as_ref()) {
            Ok(serving) => serving,
            Err(e) => {
                tracing::warn!(error = %e, %peer, "could not move a connection to its lane");
                continue;
            }
        };
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
    Ok(())
}
