//! `wasmpod port-forward POD [LOCAL:]REMOTE...`: listen on 127.0.0.1 and
//! carry each connection to the pod's port through the control API.

use std::path::Path;

use clap::Args;
use tokio::net::TcpListener;

use super::remote::{namespace, owner, state_dir, tokio};
use super::{Exit, ExitContext, Failure};

#[derive(Args)]
pub(crate) struct PortForwardArgs {
    /// The pod.
    pod: String,
    /// Ports: `8080:80` (local 8080 to the pod's 80), `80` (the same number
    /// locally), `:80` (a free local port).
    #[arg(required = true, value_name = "[LOCAL:]REMOTE")]
    ports: Vec<String>,
    /// Namespace.
    #[arg(short, long)]
    namespace: Option<String>,
    /// Local address to listen on; only loopback addresses are allowed.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
}

/// `LOCAL:REMOTE`, `REMOTE` or `:REMOTE` as (local, remote); local 0 = any.
fn parse_pair(spec: &str) -> Result<(u16, u16), String> {
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port {s:?} in {spec:?}"));
    match spec.split_once(':') {
        Some(("", remote)) => Ok((0, port(remote)?)),
        Some((local, remote)) => Ok((port(local)?, port(remote)?)),
        None => {
            let p = port(spec)?;
            Ok((p, p))
        }
    }
}

pub(crate) fn run(state: Option<&Path>, args: PortForwardArgs) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    let ns = namespace(&args.namespace);
    let pairs: Vec<(u16, u16)> = args.ports.iter().map(|p| parse_pair(p)).collect::<Result<_, _>>().map_err(anyhow::Error::msg).exit(Exit::Usage)?;
    let ip: std::net::IpAddr = args.address.parse().map_err(|_| anyhow::anyhow!("--address {:?} is not an IP address", args.address)).exit(Exit::Usage)?;
    if !ip.is_loopback() {
        // The pod network's doors stay on this machine.
        return Err(Failure { exit: Exit::Usage, error: anyhow::anyhow!("--address {ip}: only loopback addresses may listen (127.0.0.1 or ::1)") });
    }
    tokio()?.block_on(async move {
        let (client, _) = owner(&state, &ns, &args.pod).await?;
        let mut tasks = Vec::new();
        for (local, remote) in pairs {
            let listener = TcpListener::bind((ip, local)).await.map_err(|e| anyhow::anyhow!("unable to listen on port {local}: {e}")).exit(Exit::Runtime)?;
            let local = listener.local_addr().exit(Exit::Runtime)?.port();
            let shown = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
            println!("Forwarding from {shown}:{local} -> {remote}");
            let (client, ns, pod) = (client.clone(), ns.clone(), args.pod.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut conn, _)) = listener.accept().await else { return };
                    println!("Handling connection for {local}");
                    let (client, ns, pod) = (client.clone(), ns.clone(), pod.clone());
                    tokio::spawn(async move {
                        match client.port_forward(&ns, &pod, remote).await {
                            Ok(mut upstream) => {
                                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                            }
                            // As kubectl: the error is printed, the local
                            // connection closed, forwarding goes on.
                            Err(e) => eprintln!("E{} portforward: {e}", jiff::Timestamp::now().strftime("%m%d %H:%M:%S")),
                        }
                    });
                }
            }));
        }
        // Runs until Ctrl-C (or the process is killed), as kubectl does.
        tokio::signal::ctrl_c().await.exit(Exit::Runtime)?;
        for t in tasks {
            t.abort();
        }
        Ok(Exit::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_pair;

    #[test]
    fn port_pairs_parse_as_kubectl_reads_them() {
        assert_eq!(parse_pair("8080:80"), Ok((8080, 80)));
        assert_eq!(parse_pair("80"), Ok((80, 80)));
        assert_eq!(parse_pair(":80"), Ok((0, 80)));
        assert!(parse_pair("0").is_err());
        assert!(parse_pair("x:80").is_err());
        assert!(parse_pair("70000").is_err());
    }
}
