//! The floor for `benches/proxy.sh`: the least a hyper 1 reverse proxy can cost here.
//!
//! One current-thread tokio runtime per core sharing one listener, a keep-alive pool per
//! thread, and nothing else: no timeouts, no header hygiene, no connection limits, no
//! metrics. With a candidate address it also sends every request's head (not its body)
//! there and reads the answer to the end, then drops it: a mirror that neither captures,
//! compares nor records. The bench prints cutover's rows beside these, so a target that even
//! this cannot reach on the machine at hand is visible as such.
//!
//! Not part of the product. Loopback use only: `hyper_floor LISTEN UPSTREAM [CANDIDATE]`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

type Pool<B> = Rc<RefCell<Vec<SendRequest<B>>>>;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<SocketAddr>());
    let (Some(Ok(listen)), Some(Ok(upstream))) = (args.next(), args.next()) else {
        eprintln!("usage: hyper_floor LISTEN UPSTREAM [CANDIDATE] (socket addresses)");
        std::process::exit(2);
    };
    let candidate = match args.next() {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            eprintln!("hyper_floor: candidate: {e}");
            std::process::exit(2);
        }
        None => None,
    };
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .unwrap_or_else(|e| {
            eprintln!("hyper_floor: bind {listen}: {e}");
            std::process::exit(1);
        });
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads: Vec<_> = (0..cores)
        .filter_map(|_| listener.try_clone().ok())
        .map(|l| std::thread::spawn(move || serve(l, upstream, candidate)))
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn serve(listener: std::net::TcpListener, upstream: SocketAddr, candidate: Option<SocketAddr>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let primary: Pool<Incoming> = Rc::default();
        let copies: Pool<Empty<Bytes>> = Rc::default();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (primary, copies) = (primary.clone(), copies.clone());
            tokio::task::spawn_local(async move {
                let service = hyper::service::service_fn(move |mut req| {
                    let (primary, copies) = (primary.clone(), copies.clone());
                    async move {
                        if let Some(c) = candidate {
                            let mut copy = hyper::Request::new(Empty::<Bytes>::new());
                            *copy.method_mut() = req.method().clone();
                            *copy.uri_mut() = req.uri().clone();
                            *copy.headers_mut() = req.headers().clone();
                            tokio::task::spawn_local(async move {
                                if let Some(mut s) = sender(&copies, c).await {
                                    if let Ok(resp) = s.send_request(copy).await {
                                        let _ = resp.into_body().collect().await;
                                    }
                                    copies.borrow_mut().push(s);
                                }
                            });
                        }
                        req.headers_mut().remove(hyper::header::CONNECTION);
                        let Some(mut s) = sender(&primary, upstream).await else {
                            return Err("upstream unreachable");
                        };
                        let resp = s.send_request(req).await.map_err(|_| "upstream failed");
                        primary.borrow_mut().push(s);
                        resp
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// An idle keep-alive connection from `pool`, or a new one.
async fn sender<B>(pool: &Pool<B>, to: SocketAddr) -> Option<SendRequest<B>>
where
    B: hyper::body::Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let idle = pool.borrow_mut().pop();
        match idle {
            Some(s) if s.is_ready() => return Some(s),
            Some(_) => continue,
            None => break,
        }
    }
    let stream = tokio::net::TcpStream::connect(to).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::task::spawn_local(conn);
    Some(s)
}
