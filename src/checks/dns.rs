//! A DNS query over UDP to the check's server, by hand: one question, the answer's RCODE and the
//! records of the asked type, enough for `[DNS_RCODE]` and `[BODY]`. (A resolver library would
//! bring a whole resolver for one packet.)

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

fn qtype(record_type: &str) -> Option<u16> {
    Some(match record_type {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        _ => return None,
    })
}

pub fn rcode_name(code: u8) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

fn query(id: u16, name: &str, qt: u16) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("`{name}` is not a domain name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qt.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(q)
}

/// Reads a (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        labels.push(String::from_utf8_lossy(msg.get(pos + 1..pos + 1 + len)?).into_owned());
        pos += 1 + len;
    }
    None
}

fn rdata(msg: &[u8], t: u16, start: usize, data: &[u8]) -> Option<String> {
    Some(match t {
        1 if data.len() == 4 => Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
        28 if data.len() == 16 => Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?).to_string(),
        2 | 5 => read_name(msg, start)?.0,
        15 => read_name(msg, start + 2)?.0,
        16 => {
            let mut out = String::new();
            let mut i = 0;
            while i < data.len() {
                let l = data[i] as usize;
                out.push_str(&String::from_utf8_lossy(data.get(i + 1..i + 1 + l)?));
                i += 1 + l;
            }
            out
        }
        _ => return None,
    })
}

/// The answer: (RCODE name, records of the asked type as text).
pub fn parse_answer(msg: &[u8], id: u16, qt: u16) -> Result<(String, Vec<String>), String> {
    let bad = || "a malformed DNS answer".to_string();
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err(bad());
    }
    let rcode = rcode_name(msg[3] & 0x0f);
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos).ok_or_else(bad)?.1 + 4;
    }
    let mut records = Vec::new();
    for _ in 0..an {
        let (_, p) = read_name(msg, pos).ok_or_else(bad)?;
        let head = msg.get(p..p + 10).ok_or_else(bad)?;
        let t = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let data = msg.get(p + 10..p + 10 + len).ok_or_else(bad)?;
        if t == qt
            && let Some(v) = rdata(msg, t, p + 10, data)
        {
            records.push(v);
        }
        pos = p + 10 + len;
    }
    Ok((rcode, records))
}

/// Asks `server` for `name`'s records of `record_type`.
pub async fn resolve(
    server: SocketAddr,
    name: &str,
    record_type: &str,
    timeout: Duration,
) -> Result<(String, Vec<String>), String> {
    let qt = qtype(record_type).ok_or_else(|| format!("record type {record_type} is not supported"))?;
    let id: u16 = rand::random();
    let packet = query(id, name, qt)?;
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "bind")?;
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(|e| format!("udp: {e}"))?;
    sock.connect(server).await.map_err(|e| format!("udp connect {server}: {e}"))?;
    sock.send(&packet).await.map_err(|e| format!("sending to {server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(timeout, sock.recv(&mut buf))
        .await
        .map_err(|_| format!("{server} did not answer in time"))?
        .map_err(|e| format!("receiving from {server}: {e}"))?;
    parse_answer(&buf[..n], id, qt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_a_compressed_name_is_read() {
        let mut msg = query(7, "app.acme.test", 1).unwrap();
        msg[2] = 0x81;
        msg[3] = 0x80; // response, NOERROR
        msg[7] = 1; // one answer
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7]);
        assert_eq!(parse_answer(&msg, 7, 1).unwrap(), ("NOERROR".into(), vec!["10.0.0.7".to_string()]));
        assert!(parse_answer(&msg, 8, 1).is_err(), "another query's id");
        msg[3] = 0x83;
        assert_eq!(parse_answer(&msg, 7, 1).unwrap().0, "NXDOMAIN");
    }
}
