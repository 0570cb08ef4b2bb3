//! The cluster DNS server, as CoreDNS's kubernetes plugin answers: pods
//! query 10.96.0.10:53 over UDP (their resolv.conf names it) and get
//!
//! - A records for the names the pod's resolver knows (`names.rs`:
//!   Services, headless Services' pods, `<dashed-ip>.<ns>.pod`, pods with
//!   `hostname` and `subdomain`), AAAA: none (the pod network is IPv4);
//! - SRV records for Service ports: `_<port>._<proto>.<svc>.<ns>.svc.cluster.local`
//!   and `<svc>.<ns>.svc.cluster.local` itself (every port), with the
//!   targets' A records in the additional section;
//! - a CNAME for an ExternalName Service, with its target's addresses;
//! - other names forwarded to the host's resolver when egress is allowed
//!   (A and AAAA only), as CoreDNS forwards to the node's resolv.conf.
//!
//! Cluster names get authoritative answers with a 5 s TTL (CoreDNS's
//! default for the kubernetes plugin); a name the cluster does not know
//! is NXDOMAIN. The server has no pod: it is part of the network, so
//! NetworkPolicies do not apply to it (as the wasi:sockets resolver).
//! Only UDP; answers that do not fit the query's size (512 bytes, or its
//! EDNS buffer) drop their additional records, then set TC.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::PodNetwork;
use super::names::LookupError;

/// The cluster DNS Service's address (the tenth of the service range,
/// which the allocator never hands out) and port.
pub const CLUSTER_DNS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10)), 53);

/// TTL of cluster answers, seconds.
const TTL: u32 = 5;

/// A pod's lookups of outside names waiting on the host's resolver at once.
const OUTSIDE_LOOKUPS: usize = 16;

/// How long the host's resolver may take for one name.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const TYPE_ANY: u16 = 255;

const FORMERR: u8 = 1;
const SERVFAIL: u8 = 2;
const NXDOMAIN: u8 = 3;
const NOTIMP: u8 = 4;

/// One question, as parsed from a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    id: u16,
    /// The RD flag, echoed.
    recursion_desired: bool,
    /// Lower case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    qclass: u16,
    /// The question's bytes (name, type, class), copied into the answer.
    question: Vec<u8>,
    /// The largest answer the client takes.
    max_size: usize,
}

/// A resource record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data {
    A(Ipv4Addr),
    Aaaa(std::net::Ipv6Addr),
    Cname(String),
    Srv { priority: u16, weight: u16, port: u16, target: String },
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Answer {
    pub rcode: u8,
    pub authoritative: bool,
    pub answers: Vec<(String, Data)>,
    pub additional: Vec<(String, Data)>,
}

/// Reads a name at `pos`, following compression pointers; returns it and
/// the position after it in the message.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => {
                end.get_or_insert(pos + 1);
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                let target = ((l & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
                end.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > 16 || target >= pos {
                    return None;
                }
                pos = target;
            }
            l if l < 64 => {
                let label = msg.get(pos + 1..pos + 1 + l)?;
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                pos += 1 + l;
            }
            _ => return None,
        }
    }
    let name = labels.join(".");
    (name.len() <= 253).then_some((name, end?))
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// Parses a query with one question; the rcode to answer with otherwise
/// (and the id, when the header could be read).
pub(crate) fn parse_query(msg: &[u8]) -> Result<Query, (Option<u16>, u8)> {
    let id = u16_at(msg, 0).ok_or((None, FORMERR))?;
    let flags = u16_at(msg, 2).ok_or((Some(id), FORMERR))?;
    let fail = |rcode| (Some(id), rcode);
    if flags & 0x8000 != 0 {
        return Err(fail(FORMERR));
    }
    if (flags >> 11) & 0xf != 0 {
        // Only standard queries.
        return Err(fail(NOTIMP));
    }
    let (qd, an, ns, ar) = (u16_at(msg, 4).unwrap_or(0), u16_at(msg, 6).unwrap_or(0), u16_at(msg, 8).unwrap_or(0), u16_at(msg, 10).ok_or(fail(FORMERR))?);
    if qd != 1 || an != 0 || ns != 0 {
        return Err(fail(FORMERR));
    }
    let (name, pos) = read_name(msg, 12).ok_or(fail(FORMERR))?;
    let qtype = u16_at(msg, pos).ok_or(fail(FORMERR))?;
    let qclass = u16_at(msg, pos + 2).ok_or(fail(FORMERR))?;
    let question = msg[12..pos + 4].to_vec();
    // An EDNS OPT record says how large an answer the client takes.
    let mut max_size = 512;
    let mut at = pos + 4;
    for _ in 0..ar {
        let Some((_, p)) = read_name(msg, at) else { break };
        let (Some(rtype), Some(class), Some(rdlen)) = (u16_at(msg, p), u16_at(msg, p + 2), u16_at(msg, p + 8)) else { break };
        if rtype == TYPE_OPT {
            max_size = usize::from(class).clamp(512, 4096);
        }
        at = p + 10 + usize::from(rdlen);
    }
    Ok(Query { id, recursion_desired: flags & 0x0100 != 0, name, qtype, qclass, question, max_size })
}

fn write_name(out: &mut Vec<u8>, name: &str, query_name: &str) {
    if name == query_name {
        // A pointer to the question's name, right after the header.
        out.extend_from_slice(&[0xc0, 12]);
        return;
    }
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

fn write_record(out: &mut Vec<u8>, owner: &str, data: &Data, query_name: &str) {
    write_name(out, owner, query_name);
    let rtype = match data {
        Data::A(_) => TYPE_A,
        Data::Aaaa(_) => TYPE_AAAA,
        Data::Cname(_) => TYPE_CNAME,
        Data::Srv { .. } => TYPE_SRV,
    };
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&TTL.to_be_bytes());
    let mut rdata = Vec::new();
    match data {
        Data::A(ip) => rdata.extend_from_slice(&ip.octets()),
        Data::Aaaa(ip) => rdata.extend_from_slice(&ip.octets()),
        Data::Cname(target) => write_name(&mut rdata, target, ""),
        Data::Srv { priority, weight, port, target } => {
            for n in [priority, weight, port] {
                rdata.extend_from_slice(&n.to_be_bytes());
            }
            write_name(&mut rdata, target, "");
        }
    }
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

/// The answer to `query` as bytes, within the size the client takes.
pub(crate) fn encode(query: &Query, answer: &Answer) -> Vec<u8> {
    let build = |answers: &[(String, Data)], additional: &[(String, Data)], truncated: bool| {
        let mut flags: u16 = 0x8000 | 0x0080 | u16::from(answer.rcode);
        if answer.authoritative {
            flags |= 0x0400;
        }
        if query.recursion_desired {
            flags |= 0x0100;
        }
        if truncated {
            flags |= 0x0200;
        }
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&query.id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        for n in [1, answers.len() as u16, 0, additional.len() as u16] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&query.question);
        for (owner, data) in answers.iter().chain(additional) {
            write_record(&mut out, owner, data, &query.name);
        }
        out
    };
    let full = build(&answer.answers, &answer.additional, false);
    if full.len() <= query.max_size {
        return full;
    }
    let without_extra = build(&answer.answers, &[], false);
    if without_extra.len() <= query.max_size {
        return without_extra;
    }
    let mut n = answer.answers.len();
    loop {
        n -= 1;
        let cut = build(&answer.answers[..n], &[], true);
        if cut.len() <= query.max_size || n == 0 {
            return cut;
        }
    }
}

/// An error answer for a query that could not be parsed.
pub(crate) fn error_reply(id: u16, rcode: u8) -> Vec<u8> {
    let flags: u16 = 0x8000 | 0x0080 | u16::from(rcode);
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out
}

/// How a query is answered: now, or after asking the host's resolver.
pub(crate) enum Resolution {
    Now(Answer),
    /// Look `name` up outside (within `range`'s rules); `prefix` (a CNAME
    /// chain) comes first in the answer.
    Outside {
        name: String,
        range: (Ipv4Addr, u8),
        prefix: Vec<(String, Data)>,
    },
}

fn is_cluster(name: &str) -> bool {
    name == "cluster.local" || name.ends_with(".cluster.local")
}

/// What the server answers `query` from pod `net`.
pub(crate) fn resolve(net: &Arc<PodNetwork>, query: &Query) -> Resolution {
    let name = query.name.as_str();
    if query.qclass != 1 && query.qclass != TYPE_ANY {
        return Resolution::Now(Answer { rcode: NOTIMP, ..Default::default() });
    }
    let cluster = is_cluster(name);
    let mut answer = Answer { authoritative: cluster, ..Default::default() };
    if cluster && query.qtype == TYPE_SRV {
        match net.cluster.upgrade().and_then(|c| c.srv_records(name)) {
            Some(records) => {
                for r in records {
                    answer.answers.push((name.to_owned(), Data::Srv { priority: 0, weight: r.weight, port: r.port, target: r.target.clone() }));
                    answer.additional.extend(r.addresses.into_iter().map(|ip| (r.target.clone(), Data::A(ip))));
                }
            }
            None => answer.rcode = NXDOMAIN,
        }
        return Resolution::Now(answer);
    }
    // Single-label names go nowhere: resolvers add the search domains
    // before they ask.
    if !cluster && !name.contains('.') {
        answer.rcode = NXDOMAIN;
        return Resolution::Now(answer);
    }
    let wants = |t: u16| query.qtype == t || query.qtype == TYPE_ANY;
    match super::names::resolve(net, name) {
        Ok(ips) if cluster || ips.iter().all(|ip| ip.is_loopback()) => {
            for ip in ips {
                match ip {
                    IpAddr::V4(v4) if wants(TYPE_A) => answer.answers.push((name.to_owned(), Data::A(v4))),
                    IpAddr::V6(v6) if wants(TYPE_AAAA) => answer.answers.push((name.to_owned(), Data::Aaaa(v6))),
                    _ => {}
                }
            }
            Resolution::Now(answer)
        }
        // An IP literal or a hostAlias: not the server's to answer
        // (/etc/hosts is the client's); outside names are forwarded.
        Ok(_) | Err(LookupError::Unresolvable) if !cluster => outside(net, query, name.to_owned(), Vec::new()),
        Err(LookupError::Outside(target)) => {
            let prefix = vec![(name.to_owned(), Data::Cname(target.clone()))];
            match outside(net, query, target, prefix.clone()) {
                // Egress denied: the CNAME alone.
                Resolution::Now(_) => Resolution::Now(Answer { answers: prefix, authoritative: true, ..Default::default() }),
                r => r,
            }
        }
        Ok(_) | Err(LookupError::Unresolvable) | Err(LookupError::InvalidName) => {
            answer.rcode = NXDOMAIN;
            Resolution::Now(answer)
        }
    }
}

fn outside(net: &Arc<PodNetwork>, query: &Query, name: String, prefix: Vec<(String, Data)>) -> Resolution {
    if !matches!(query.qtype, TYPE_A | TYPE_AAAA | TYPE_ANY) {
        return Resolution::Now(Answer { rcode: NOTIMP, ..Default::default() });
    }
    match net.outside_lookup(&name, &LookupError::Unresolvable) {
        Some((name, range)) => Resolution::Outside { name, range, prefix },
        // Egress denied: nothing answers outside names.
        None => Resolution::Now(Answer { rcode: SERVFAIL, ..Default::default() }),
    }
}

/// The answer once the host's resolver gave `found` for the last name of
/// the chain.
pub(crate) fn outside_answer(query: &Query, name: &str, prefix: Vec<(String, Data)>, found: Vec<IpAddr>) -> Answer {
    let wants = |t: u16| query.qtype == t || query.qtype == TYPE_ANY;
    let mut answers = prefix;
    let had_prefix = !answers.is_empty();
    for ip in &found {
        match ip {
            IpAddr::V4(v4) if wants(TYPE_A) => answers.push((name.to_owned(), Data::A(*v4))),
            IpAddr::V6(v6) if wants(TYPE_AAAA) => answers.push((name.to_owned(), Data::Aaaa(*v6))),
            _ => {}
        }
    }
    let rcode = if found.is_empty() && !had_prefix { NXDOMAIN } else { 0 };
    Answer { rcode, authoritative: had_prefix, answers, additional: Vec::new() }
}

impl PodNetwork {
    /// A query to the cluster DNS server from this pod (`data`): `reply`
    /// gets the answer's bytes, at once for cluster names and after the
    /// host's resolver answered for others (none for a datagram that is not
    /// a DNS message at all).
    pub(crate) fn ask_cluster_dns(self: &Arc<Self>, data: &[u8], reply: impl FnOnce(&Arc<PodNetwork>, Vec<u8>) + Send + 'static) {
        let query = match parse_query(data) {
            Ok(q) => q,
            Err((Some(id), rcode)) => return reply(self, error_reply(id, rcode)),
            Err((None, _)) => return,
        };
        match resolve(self, &query) {
            Resolution::Now(answer) => reply(self, encode(&query, &answer)),
            Resolution::Outside { name, range, prefix } => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return reply(self, encode(&query, &Answer { rcode: SERVFAIL, ..Default::default() }));
                };
                // At most OUTSIDE_LOOKUPS of a pod's lookups wait on the
                // host's resolver at once, each for LOOKUP_TIMEOUT: more
                // are SERVFAIL, so a pod cannot fill the blocking pool.
                let in_flight = self.dns_lookups.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                if in_flight >= OUTSIDE_LOOKUPS {
                    self.dns_lookups.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    return reply(self, encode(&query, &Answer { rcode: SERVFAIL, ..Default::default() }));
                }
                let net = Arc::downgrade(self);
                runtime.spawn(async move {
                    let lookup = super::egress::resolve_outside(name.clone(), range);
                    let found = tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await;
                    let Some(net) = net.upgrade() else { return };
                    net.dns_lookups.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    let answer = match found {
                        Ok(found) => outside_answer(&query, &name, prefix, found),
                        Err(_) => Answer { rcode: SERVFAIL, ..Default::default() },
                    };
                    reply(&net, encode(&query, &answer));
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as a resolver sends it (RD set), with an EDNS record when
    /// `edns` is some.
    pub(crate) fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&0x0100u16.to_be_bytes());
        q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
        write_name(&mut q, name, "");
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        if let Some(size) = edns {
            q.push(0);
            q.extend_from_slice(&TYPE_OPT.to_be_bytes());
            q.extend_from_slice(&size.to_be_bytes());
            q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        q
    }

    /// A record as (owner, type, rdata).
    type Raw = (String, u16, Vec<u8>);

    /// The answer's rcode, TC flag, its records (answers, then additional)
    /// and how many are additional.
    fn decode(msg: &[u8]) -> (u8, bool, Vec<Raw>, usize) {
        let flags = u16_at(msg, 2).unwrap();
        let (an, ar) = (u16_at(msg, 6).unwrap(), u16_at(msg, 10).unwrap());
        let (_, mut pos) = read_name(msg, 12).unwrap();
        pos += 4;
        let mut out = Vec::new();
        for _ in 0..an + ar {
            let (owner, p) = read_name(msg, pos).unwrap();
            let rtype = u16_at(msg, p).unwrap();
            let len = usize::from(u16_at(msg, p + 8).unwrap());
            out.push((owner, rtype, msg[p + 10..p + 10 + len].to_vec()));
            pos = p + 10 + len;
        }
        ((flags & 0xf) as u8, flags & 0x0200 != 0, out, usize::from(ar))
    }

    #[test]
    fn queries_parse_and_bad_ones_are_refused_with_their_code() {
        let q = parse_query(&query(7, "Web.Default.svc.cluster.local", TYPE_A, Some(1232))).unwrap();
        assert_eq!((q.id, q.name.as_str(), q.qtype, q.max_size, q.recursion_desired), (7, "web.default.svc.cluster.local", TYPE_A, 1232, true));
        assert_eq!(parse_query(&[1]), Err((None, FORMERR)));
        let mut two = query(9, "a.b", TYPE_A, None);
        two[5] = 2;
        assert_eq!(parse_query(&two), Err((Some(9), FORMERR)));
        let mut loop_ptr = query(3, "a", TYPE_A, None);
        loop_ptr.truncate(12);
        loop_ptr.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_query(&loop_ptr), Err((Some(3), FORMERR)), "a pointer to itself");
        let reply = error_reply(9, FORMERR);
        assert_eq!((u16_at(&reply, 0), reply[3] & 0xf), (Some(9), FORMERR));
    }

    #[test]
    fn cluster_names_services_srv_and_unknown_names_are_answered() {
        let cluster = super::super::ClusterNetwork::new();
        let me = cluster.attach("client", "default");
        let backend = cluster.attach("b", "default");
        backend.set_endpoint_info(super::super::EndpointInfo {
            labels: [("app".to_owned(), "web".to_owned())].into(),
            ports: vec![("http".into(), 8080, super::super::Protocol::Tcp)],
            ..Default::default()
        });
        backend.set_ready(true);
        let spec = |name: &str, headless: bool| super::super::ServiceSpec {
            namespace: "default".into(),
            name: name.into(),
            cluster_ip: None,
            headless,
            ports: vec![super::super::ServicePort {
                name: "http".into(),
                port: 80,
                protocol: super::super::Protocol::Tcp,
                target: super::super::TargetPort::Name("http".into()),
            }],
            selector: [("app".to_owned(), "web".to_owned())].into(),
            affinity: None,
            publish_not_ready: false,
            external_name: None,
        };
        let ip = cluster.add_service(spec("web", false)).unwrap().unwrap();
        cluster.add_service(spec("web-pods", true)).unwrap();
        let ask = |name: &str, qtype: u16| {
            let q = parse_query(&query(1, name, qtype, None)).unwrap();
            match resolve(&me, &q) {
                Resolution::Now(a) => decode(&encode(&q, &a)),
                Resolution::Outside { .. } => panic!("{name} went outside"),
            }
        };
        let (rcode, _, records, _) = ask("web.default.svc.cluster.local", TYPE_A);
        assert_eq!((rcode, records), (0, vec![("web.default.svc.cluster.local".to_owned(), TYPE_A, ip.octets().to_vec())]));
        let (rcode, _, records, _) = ask("web.default.svc.cluster.local", TYPE_AAAA);
        assert_eq!((rcode, records.len()), (0, 0), "NODATA: the name exists, without IPv6");
        assert_eq!(ask("nope.default.svc.cluster.local", TYPE_A).0, NXDOMAIN);
        assert_eq!(ask("web", TYPE_A).0, NXDOMAIN, "no search domains at the server");

        let (rcode, _, records, additional) = ask("_http._tcp.web.default.svc.cluster.local", TYPE_SRV);
        assert_eq!((rcode, records.len(), additional), (0, 2, 1));
        let srv = &records[0].2;
        assert_eq!(u16_at(srv, 4), Some(80), "a ClusterIP Service's SRV gives its own port");
        assert_eq!(read_name(srv, 6).unwrap().0, "web.default.svc.cluster.local");
        assert_eq!(records[1], ("web.default.svc.cluster.local".to_owned(), TYPE_A, ip.octets().to_vec()));
        let (_, _, records, _) = ask("_http._tcp.web-pods.default.svc.cluster.local", TYPE_SRV);
        let dashed = backend.ip().to_string().replace('.', "-");
        assert_eq!(u16_at(&records[0].2, 4), Some(8080), "a headless Service's SRV gives the pod's port");
        assert_eq!(read_name(&records[0].2, 6).unwrap().0, format!("{dashed}.web-pods.default.svc.cluster.local"));
        // The per-pod name of a headless Service resolves.
        let (_, _, records, _) = ask(&format!("{dashed}.web-pods.default.svc.cluster.local"), TYPE_A);
        assert_eq!(records[0].2, backend.ip().octets().to_vec());
        assert_eq!(ask("_dns._udp.web.default.svc.cluster.local", TYPE_SRV).0, NXDOMAIN);
    }

    #[test]
    fn an_answer_too_large_drops_its_extras_then_sets_tc() {
        let q = parse_query(&query(1, "many.default.svc.cluster.local", TYPE_A, None)).unwrap();
        // 16 bytes per A record with its owner compressed: 25 fit in 512.
        let answers: Vec<(String, Data)> = (0..25).map(|i| (q.name.clone(), Data::A(Ipv4Addr::new(10, 88, 0, i)))).collect();
        let (_, tc, records, _) = decode(&encode(&q, &Answer { answers: answers.clone(), ..Default::default() }));
        assert!(!tc && records.len() == 25, "25 A records fit 512 bytes with the name compressed");
        let big: Vec<(String, Data)> =
            (0..40).map(|i| (format!("a-long-owner-name-{i}.default.svc.cluster.local"), Data::A(Ipv4Addr::new(10, 88, 0, i)))).collect();
        let bytes = encode(&q, &Answer { answers: big, ..Default::default() });
        let (_, tc, records, _) = decode(&bytes);
        assert!(tc && records.len() < 40 && bytes.len() <= 512, "{} records, {} bytes", records.len(), bytes.len());
    }
}
