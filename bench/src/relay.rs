//! The floor for any proxy that adds a hop: a TCP relay that copies bytes both ways between a
//! client connection and one connection to the target, understanding nothing of HTTP. Run as a
//! child process like the gateway, with the same runtime, so the only difference left between
//! it and the service proxy is the HTTP work (parsing, routing, picking, headers).

use std::io::Write;
use tokio::net::{TcpListener, TcpStream};

pub async fn serve(target: String) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("relay listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (mut client, _) = listener.accept().await?;
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(&target).await else { return };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}
