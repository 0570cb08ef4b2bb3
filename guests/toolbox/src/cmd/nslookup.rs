//! busybox `nslookup`: `nslookup [-type=TYPE] [-port=PORT] HOST [SERVER]`.
//! Asks the DNS server (the first `nameserver` of /etc/resolv.conf, or
//! SERVER) over UDP, trying the `search` domains first when HOST has
//! fewer dots than `ndots`, and prints the answers as busybox does:
//!
//! ```text
//! Server:		10.96.0.10
//! Address:	10.96.0.10:53
//!
//! Name:	web.default.svc.cluster.local
//! Address: 10.96.0.12
//! ```
//!
//! Types: A, AAAA, CNAME, SRV (and ANY); without `-type`, A then AAAA.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::cmd::prog;
use crate::io::Io;

const USAGE: &str = "Usage: nslookup [-type=QUERY_TYPE] [-port=PORT] HOST [DNS_SERVER]

Query DNS about HOST

QUERY_TYPE: a, aaaa, cname, srv, any
";

const TYPES: &[(&str, u16)] = &[("a", 1), ("cname", 5), ("aaaa", 28), ("srv", 33), ("any", 255)];

/// A record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Srv(u16, u16, u16, String),
    Other(u16),
}

/// A parsed answer: the response code, whether it is authoritative, and
/// the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub rcode: u8,
    pub authoritative: bool,
    pub answers: Vec<(String, Record)>,
}

/// A query for `name` of type `qtype`, recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fn u16_at(m: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(p)?, *m.get(p + 1)?]))
}

fn name_at(m: &[u8], mut p: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *m.get(p)? as usize;
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(p + 1)));
        }
        if len & 0xc0 == 0xc0 {
            end.get_or_insert(p + 2);
            p = ((len & 0x3f) << 8) | *m.get(p + 1)? as usize;
            continue;
        }
        labels.push(String::from_utf8_lossy(m.get(p + 1..p + 1 + len)?).into_owned());
        p += 1 + len;
    }
    None
}

/// Parses the answer to query `id`; `None` if it is not one.
pub fn parse(m: &[u8], id: u16) -> Option<Reply> {
    if u16_at(m, 0)? != id {
        return None;
    }
    let flags = u16_at(m, 2)?;
    let (qd, an) = (u16_at(m, 4)?, u16_at(m, 6)?);
    let mut p = 12;
    for _ in 0..qd {
        p = name_at(m, p)?.1 + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..an {
        let (owner, q) = name_at(m, p)?;
        let (rtype, len) = (u16_at(m, q)?, usize::from(u16_at(m, q + 8)?));
        let data = q + 10;
        let rdata = m.get(data..data + len)?;
        let record = match (rtype, len) {
            (1, 4) => Record::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
            (28, 16) => Record::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?)),
            (5, _) => Record::Cname(name_at(m, data)?.0),
            (33, _) => Record::Srv(u16_at(m, data)?, u16_at(m, data + 2)?, u16_at(m, data + 4)?, name_at(m, data + 6)?.0),
            (t, _) => Record::Other(t),
        };
        answers.push((owner, record));
        p = data + len;
    }
    Some(Reply { rcode: (flags & 0xf) as u8, authoritative: flags & 0x0400 != 0, answers })
}

/// What /etc/resolv.conf says: nameservers, search domains, ndots.
fn resolv_conf() -> (Vec<String>, Vec<String>, usize) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (mut servers, mut search, mut ndots) = (Vec::new(), Vec::new(), 1);
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => servers.extend(f.next().map(str::to_owned)),
            Some("search" | "domain") => search = f.map(str::to_owned).collect(),
            Some("options") => {
                for o in f {
                    if let Some(n) = o.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        ndots = n;
                    }
                }
            }
            _ => {}
        }
    }
    (servers, search, ndots)
}

/// One query and its answer, or why there is none.
fn ask(server: SocketAddr, name: &str, qtype: u16, id: u16) -> Result<Reply, String> {
    let local: SocketAddr = if server.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    sock.connect(server).map_err(|e| e.to_string())?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    let q = query(id, name, qtype);
    let mut buf = vec![0u8; 4096];
    // Three tries, two seconds each, as a resolver retries.
    for _ in 0..3 {
        sock.send(&q).map_err(|e| e.to_string())?;
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(r) = parse(&buf[..n], id) {
                        return Ok(r);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    Err("connection timed out; no servers could be reached".into())
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE {n}"),
    }
}

/// `nslookup`.
pub fn nslookup(argv: &[String], io: &mut Io) -> i32 {
    let name = prog(argv);
    let mut types: Vec<u16> = Vec::new();
    let mut port = 53u16;
    let mut operands = Vec::new();
    for a in &argv[1..] {
        if let Some(t) = a.strip_prefix("-type=").or_else(|| a.strip_prefix("-query=")).or_else(|| a.strip_prefix("-q=")) {
            match TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
                Some((_, code)) => types = vec![*code],
                None => {
                    io.err(&name, format_args!("invalid query type \"{t}\""));
                    return 1;
                }
            }
        } else if let Some(p) = a.strip_prefix("-port=") {
            match p.parse() {
                Ok(p) => port = p,
                Err(_) => {
                    io.err(&name, format_args!("invalid number '{p}'"));
                    return 1;
                }
            }
        } else if a == "-h" || a == "--help" || (a.starts_with('-') && a != "-debug") {
            let _ = io.stderr.write_all(USAGE.as_bytes());
            return 1;
        } else if a != "-debug" {
            operands.push(a.clone());
        }
    }
    let (host, server_arg) = match operands.as_slice() {
        [h] => (h.clone(), None),
        [h, s] => (h.clone(), Some(s.clone())),
        _ => {
            let _ = io.stderr.write_all(USAGE.as_bytes());
            return 1;
        }
    };
    if types.is_empty() {
        types = vec![1, 28];
    }
    let (servers, search, ndots) = resolv_conf();
    let Some(server_text) = server_arg.or_else(|| servers.first().cloned()) else {
        io.err(&name, "no nameserver in /etc/resolv.conf");
        return 1;
    };
    let Ok(server_ip) = server_text.parse::<IpAddr>() else {
        io.err(&name, format_args!("bad address '{server_text}'"));
        return 1;
    };
    let server = SocketAddr::new(server_ip, port);
    let _ = writeln!(io.stdout, "Server:\t\t{server_ip}\nAddress:\t{server}\n");
    // The search domains first when the name is short, then the name.
    let dots = host.trim_end_matches('.').matches('.').count();
    let mut candidates: Vec<String> =
        if !host.ends_with('.') && dots < ndots { search.iter().map(|d| format!("{}.{d}", host.trim_end_matches('.'))).collect() } else { Vec::new() };
    candidates.push(host.trim_end_matches('.').to_owned());
    // WASI has no process ids: the clock picks the first query id.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut id = 0x5a17u16.wrapping_add(nanos as u16);
    let mut last_error = None;
    for candidate in &candidates {
        let mut found = false;
        let mut printed = false;
        for &qtype in &types {
            id = id.wrapping_add(1);
            let reply = match ask(server, candidate, qtype, id) {
                Ok(r) => r,
                Err(e) => {
                    let _ = writeln!(io.stdout, ";; {e}");
                    return 1;
                }
            };
            if reply.rcode != 0 {
                last_error = Some(reply.rcode);
                continue;
            }
            found = true;
            if !reply.authoritative && !printed && !reply.answers.is_empty() {
                let _ = writeln!(io.stdout, "Non-authoritative answer:");
                printed = true;
            }
            for (owner, record) in &reply.answers {
                let _ = match record {
                    Record::A(ip) => writeln!(io.stdout, "Name:\t{owner}\nAddress: {ip}\n"),
                    Record::Aaaa(ip) => writeln!(io.stdout, "Name:\t{owner}\nAddress: {ip}\n"),
                    Record::Cname(target) => writeln!(io.stdout, "{owner}\tcanonical name = {target}"),
                    Record::Srv(prio, weight, port, target) => writeln!(io.stdout, "{owner}\tservice = {prio} {weight} {port} {target}"),
                    Record::Other(_) => Ok(()),
                };
            }
        }
        if found {
            return 0;
        }
    }
    let _ = writeln!(io.stdout, "** server can't find {}: {}\n", host.trim_end_matches('.'), rcode_name(last_error.unwrap_or(3)));
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_with_compressed_names_parses() {
        let mut m = query(7, "web.default.svc.cluster.local", 33);
        m[2] = 0x85; // QR, AA, RD
        m[3] = 0x80;
        m[7] = 2; // two answers
        // SRV 0 100 80 -> the question's name
        m.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 5, 0, 8, 0, 0, 0, 100, 0, 80, 0xc0, 12]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 2]);
        let r = parse(&m, 7).unwrap();
        assert!(r.authoritative && r.rcode == 0);
        assert_eq!(r.answers[0].1, Record::Srv(0, 100, 80, "web.default.svc.cluster.local".into()));
        assert_eq!(r.answers[1].1, Record::A(Ipv4Addr::new(10, 96, 0, 2)));
        assert!(parse(&m, 8).is_none(), "another query's answer");
        assert!(parse(&m[..20], 7).is_none(), "cut short");
    }
}
