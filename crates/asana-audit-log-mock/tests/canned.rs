//! The canned-response test server's own promises: keep-alive when asked, a bound on request
//! heads, and nothing left running once it is dropped.

use std::time::Duration;

use asana_audit_log_mock::canned::{CannedServer, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GET: &[u8] =
    b"GET /api/1.0/x?a=1&b=two HTTP/1.1\r\nHost: here\r\nAuthorization: Bearer t\r\n\r\n";

/// Reads until the peer closes (or 2 s pass, which fails the test).
async fn read_to_close(socket: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut bytes))
        .await
        .expect("the server closes the connection")
        .ok();
    bytes
}

#[tokio::test]
async fn keep_alive_serves_the_next_request_on_the_same_connection() {
    let server = CannedServer::start(|i, _| {
        let reply = Reply::response("200 OK", "", format!("reply {i}"));
        if i == 0 { reply.keep_alive() } else { reply }
    })
    .await
    .unwrap();
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    socket.write_all(GET).await.unwrap();
    socket.write_all(GET).await.unwrap();
    let answer = String::from_utf8(read_to_close(&mut socket).await).unwrap();
    assert_eq!(
        answer,
        "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nreply 0HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nreply 1"
    );
    assert_eq!(server.hits(), 2);
    let request = &server.requests()[1];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path(), "/api/1.0/x");
    assert_eq!(request.query("b").as_deref(), Some("two"));
    assert_eq!(request.header("AUTHORIZATION"), Some("Bearer t"));
}

#[tokio::test]
async fn an_endless_head_is_cut_off_unanswered() {
    let server = CannedServer::replies(vec![Reply::response("200 OK", "", "")])
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    let header = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n", "x".repeat(70 * 1024));
    // The server may close before all of it is written.
    let _ = socket.write_all(header.as_bytes()).await;
    assert!(read_to_close(&mut socket).await.is_empty());
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn dropping_the_server_ends_its_connections() {
    let server = CannedServer::start(|i, _| match i {
        0 => Reply::silent(),
        _ => {
            Reply::stream("HTTP/1.1 200 OK\r\n\r\n", "x", u64::MAX).pause(Duration::from_millis(5))
        }
    })
    .await
    .unwrap();
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    silent.write_all(GET).await.unwrap();
    while server.hits() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut streaming = TcpStream::connect(server.addr()).await.unwrap();
    streaming.write_all(GET).await.unwrap();
    while server.streamed_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = server.addr();
    drop(server);
    assert!(read_to_close(&mut silent).await.is_empty());
    assert!(
        read_to_close(&mut streaming)
            .await
            .starts_with(b"HTTP/1.1 200 OK")
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
