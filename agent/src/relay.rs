//! Relays the runtime's HTTP connections from the container's loopback to the invoker's Unix
//! socket, byte for byte: the agent never parses HTTP, so it adds no protocol behaviour of its
//! own and every Runtime API detail lives in one place, the invoker.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;

pub fn accept_loop(listener: TcpListener, socket: &str) {
    for conn in listener.incoming() {
        let Ok(tcp) = conn else { continue };
        let socket = socket.to_string();
        std::thread::spawn(move || {
            if let Err(e) = relay(tcp, &socket) {
                eprintln!("skiff-agent: relay: {e}");
            }
        });
    }
}

fn relay(tcp: TcpStream, socket: &str) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut unix = UnixStream::connect(socket)?;
    unix.write_all(b"R")?;
    let (mut tcp_in, mut unix_out) = (tcp.try_clone()?, unix.try_clone()?);
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_in, &mut unix_out);
        let _ = unix_out.shutdown(Shutdown::Write);
    });
    let mut tcp_out = tcp;
    let _ = std::io::copy(&mut unix, &mut tcp_out);
    let _ = tcp_out.shutdown(Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}
